"""What it brought: reach, reactions, visits and goals per post, platform and account, with
the rates, in JSON, CSV, text and HTML; the HTML funnel rendered in headless Chromium."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console

from klapper.config.model import Config
from klapper.engagement.html import render_html
from klapper.engagement.render import print_report, report_csv
from klapper.engagement.report import Report, build_report
from klapper.engagement.sites import SiteRow
from klapper.engagement.store import EngagementStore, Reading
from klapper.engagement.visits_store import VisitsStore
from klapper.ledger import Ledger
from tests.engagement.cdp import Browser, chromium
from tests.engagement.helpers import record_published

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
CONFIG = Config.model_validate(
    {
        "timezone": "Europe/Berlin",
        "accounts": {
            "shop-x": {"platform": "x"},
            "shop-li": {"platform": "linkedin", "author": "urn:li:organization:1"},
            "team-li": {"platform": "linkedin", "author": "urn:li:person:2"},
        },
        "links": {"utm": {"source": "{account}", "medium": "social", "campaign": "{post}"}},
    }
)


@pytest.fixture
def ledger(tmp_path: Path, ledger_url: str | None):
    opened = Ledger.open(state=tmp_path / "state", url=ledger_url)
    yield opened
    opened.close()


def _fill(ledger: Ledger) -> None:
    """Two posts: advent to three accounts, kurse to one; reactions with views; visits."""
    store, visits = EngagementStore(ledger), VisitsStore(ledger)
    when = NOW - timedelta(days=3)
    readings = []
    for post, account, platform, views, likes in (
        ("advent", "shop-x", "x", 2000, 40),
        ("advent", "shop-li", "linkedin", 1000, 9),
        ("advent", "team-li", "linkedin", None, 5),
        ("kurse", "shop-x", "x", 500, 10),
    ):
        delivery = record_published(
            ledger,
            post_id=post,
            account=account,
            platform=platform,
            remote_ids=[f"{post}-{account}"],
            published_at=when,
        )
        readings.append(
            Reading(
                delivery_id=delivery.id,
                part=0,
                remote_id=f"{post}-{account}",
                account=account,
                platform=platform,
                stage=86400,
                taken_at=when + timedelta(days=1),
                found=True,
                likes=likes,
                views=views,
            )
        )
    store.add_readings(readings)
    day = date(2026, 12, 7)
    visits.put(
        "matomo",
        [
            SiteRow("advent", "shop-x", day, visits=120, visitors=100, goals=6),
            SiteRow("advent", "shop-x", day + timedelta(days=1), visits=30, visitors=28, goals=0),
            SiteRow("advent", "shop-li", day, visits=50, visitors=45, goals=4),
            SiteRow("advent", "newsletter", day, visits=7, visitors=7, goals=1),  # not a post's
            SiteRow("kurse", "shop-x", day, visits=20, visitors=20, goals=1),
            SiteRow("winter", "shop-x", day, visits=99, visitors=99, goals=9),  # not our post
        ],
        now=NOW,
    )


def _report(ledger: Ledger) -> Report:
    return build_report(
        ledger=ledger,
        since=NOW - timedelta(days=30),
        until=NOW,
        tz=BERLIN,
        platforms={name: a.platform for name, a in CONFIG.accounts.items()},
        config=CONFIG,
    )


def test_the_funnel_per_post_platform_and_account_with_its_rates(ledger) -> None:
    _fill(ledger)
    data = _report(ledger).to_json()["funnel"]
    total = data["total"]
    assert (total["reach"], total["reactions"], total["visits"], total["goals"]) == (
        3500,
        64,
        227,  # every visit of our posts' campaigns, the newsletter's too; not winter's
        12,
    )
    assert total["visits_per_reach"] == round(227 / 3500, 4)
    assert total["goals_per_visit"] == round(12 / 227, 4)
    posts = {f["name"]: f for f in data["posts"]}
    assert (posts["advent"]["visits"], posts["advent"]["goals"]) == (207, 11)
    assert (posts["kurse"]["reach"], posts["kurse"]["visits"], posts["kurse"]["goals"]) == (
        500,
        20,
        1,
    )
    platforms = {f["name"]: f for f in data["platforms"]}
    assert (platforms["x"]["visits"], platforms["linkedin"]["visits"]) == (170, 50)
    assert platforms["linkedin"]["reach"] == 1000  # team-li counts no views: absent, not 0
    accounts = {f["name"]: f for f in data["accounts"]}
    assert accounts["team-li"]["visits"] == 0 and accounts["team-li"]["reach"] is None
    assert accounts["team-li"]["visits_per_reach"] is None  # no reach: no rate
    assert accounts["shop-li"]["goals_per_visit"] == 0.08
    assert [f["name"] for f in data["best_by_visits"]] == ["advent", "kurse"]


def test_without_visits_the_funnel_says_unknown_not_zero(ledger) -> None:
    record_published(
        ledger,
        post_id="p",
        account="shop-x",
        platform="x",
        remote_ids=["1"],
        published_at=NOW - timedelta(hours=3),
    )
    data = _report(ledger).to_json()["funnel"]
    assert data["measured"] is False
    assert data["total"]["visits"] is None and data["total"]["goals"] is None
    assert data["best_by_visits"] == []
    out = io.StringIO()
    print_report(Console(file=out, width=160), _report(ledger))
    assert "Visits and goals: none read yet" in out.getvalue()


def test_csv_and_text_carry_the_same_figures(ledger) -> None:
    _fill(ledger)
    report = _report(ledger)
    rows = list(csv.DictReader(io.StringIO(report_csv(report))))
    x_advent = next(r for r in rows if (r["post"], r["account"]) == ("advent", "shop-x"))
    assert (x_advent["views"], x_advent["visits"], x_advent["goals"]) == ("2000", "150", "6")
    assert x_advent["visits_per_reach"] == "0.075" and x_advent["goals_per_visit"] == "0.04"
    team = next(r for r in rows if r["account"] == "team-li")
    assert (team["visits"], team["visits_per_reach"]) == ("0", "")
    # The CSV's rows add up to the JSON's platform funnels.
    platforms = {f["name"]: f for f in report.to_json()["funnel"]["platforms"]}
    for platform in ("x", "linkedin"):
        assert (
            sum(int(r["visits"]) for r in rows if r["platform"] == platform)
            == (platforms[platform]["visits"])
        )
    out = io.StringIO()
    print_report(Console(file=out, width=200), report)
    text = out.getvalue()
    assert "What it brought" in text and "Best posts by visits" in text
    assert "227" in text and "6.5%" in text  # all posts: visits, visits per reach


@pytest.mark.skipif(
    chromium() is None,
    reason="headless Chromium is not installed (Debian: apt-get install chromium)",
)
def test_the_funnel_is_visible_in_headless_chromium(ledger, tmp_path: Path) -> None:
    _fill(ledger)
    page = tmp_path / "report.html"
    page.write_text(render_html(_report(ledger), generated=NOW), encoding="utf-8")
    browser = Browser(tmp_path / "profile", width=1200, height=1400)
    try:
        browser.open(page.as_uri())
        browser.evaluate("document.getElementById('funnel').scrollIntoView()")
        steps = browser.evaluate(
            """[...document.querySelectorAll('#funnel svg .step')].map(g => {
                 const r = g.querySelector('rect').getBoundingClientRect();
                 const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
                 return {step: g.dataset.step, width: r.width, height: r.height,
                         onTop: g.contains(hit), text: g.textContent,
                         fill: getComputedStyle(g.querySelector('rect')).fill};
               })"""
        )
        best = browser.evaluate(
            "[...document.querySelectorAll('#best-by-visits tr')].slice(1)"
            ".map(tr => tr.innerText.split('\\t').map(s => s.trim()))"
        )
        browser.screenshot(tmp_path / "funnel.png")
    finally:
        browser.close()
    assert [s["step"] for s in steps] == ["reach", "reactions", "visits", "goals"]
    for step in steps:  # drawn, not hidden behind anything, in colour
        assert step["width"] > 10 and step["height"] > 20 and step["onTop"], step
        assert step["fill"] not in ("none", "rgba(0, 0, 0, 0)"), step
    # Wider for more: reach 3,500 > visits 227 > reactions 64 > goals 12.
    by_width = [s["step"] for s in sorted(steps, key=lambda s: -s["width"])]
    assert by_width == ["reach", "visits", "reactions", "goals"]
    assert "3\u202f500 Reach (views)" in steps[0]["text"]
    assert "227 Visits to the website6.5% of reach" in steps[2]["text"]
    assert "12 Goals reached5.3% of visits" in steps[3]["text"]  # 12 goals of 227 visits
    assert best == [
        ["1", "Post advent", "207", "11", "3\u202f000", "54", "6.9%", "5.3%"],
        ["2", "Post kurse", "20", "1", "500", "10", "4.0%", "5.0%"],
    ]
    assert (tmp_path / "funnel.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
