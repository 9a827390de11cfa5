"""The report's figures, its text/JSON/CSV forms, and the HTML file rendered in Chromium."""

from __future__ import annotations

import csv
import io
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from klapper.adapters.base import Interaction
from klapper.engagement.html import render_html
from klapper.engagement.render import report_csv
from klapper.engagement.report import build_report
from klapper.engagement.store import EngagementStore, Reading
from klapper.ledger import Ledger
from klapper.ledger.states import utc_text
from tests.engagement.cdp import HEADLESS, chromium
from tests.engagement.helpers import record_published
from tests.engagement.sample import fill

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def ledger(tmp_path: Path):
    opened = Ledger.open(state=tmp_path / "state")
    yield opened
    opened.close()


def _reading(delivery, *, stage: int, part: int = 0, **figures: int | None) -> Reading:
    return Reading(
        delivery_id=delivery.id,
        part=part,
        remote_id=f"{delivery.remote_id}/{part}",
        account=delivery.account,
        platform=delivery.platform,
        stage=stage,
        taken_at=delivery.published_at + timedelta(seconds=stage),
        found=True,
        **figures,
    )


def test_latest_reading_per_post_summed_over_a_thread_absent_stays_absent(ledger) -> None:
    # Tuesday 10:30 in Berlin (09:30 UTC), and Friday 18:00.
    tuesday = record_published(
        ledger,
        post_id="tue",
        account="masto",
        platform="mastodon",
        remote_ids=["1", "2"],
        published_at=datetime(2026, 3, 17, 9, 30, tzinfo=UTC),
    )
    friday = record_published(
        ledger,
        post_id="fri",
        account="masto",
        platform="mastodon",
        remote_ids=["3"],
        published_at=datetime(2026, 3, 13, 17, 0, tzinfo=UTC),
    )
    EngagementStore(ledger).add_readings(
        [
            _reading(tuesday, stage=3600, likes=1, reposts=0),
            _reading(tuesday, stage=86400, likes=5, reposts=2),  # the latest counts
            _reading(tuesday, stage=86400, part=1, likes=2, reposts=None),
            _reading(friday, stage=86400, likes=1, reposts=1),
        ]
    )
    report = build_report(ledger=ledger, since=NOW - timedelta(days=30), until=NOW, tz=BERLIN)
    posts = {p.post: p for p in report.posts}
    assert posts["tue"].figures["likes"] == 7 and posts["tue"].figures["reposts"] == 2
    assert posts["tue"].figures["views"] is None  # Mastodon gives none: absent, not 0
    assert posts["tue"].score == 9 and [p.post for p in report.top] == ["tue", "fri"]
    [account] = report.accounts
    assert (account.posts, account.figures["likes"], account.figures["views"]) == (2, 8, None)
    hours = {s.label: s for s in report.hours}
    assert (hours["10"].posts, hours["10"].mean_score) == (1, 9.0)  # local time, not UTC
    assert (hours["18"].posts, hours["09"].posts) == (1, 0)
    days = {s.label: s for s in report.weekdays}
    assert (days["Tue"].mean_score, days["Fri"].mean_score, days["Mon"].posts) == (9.0, 2.0, 0)


def test_a_threads_own_follow_ups_are_not_replies(ledger) -> None:
    store = EngagementStore(ledger)
    when = datetime(2026, 3, 17, 9, 30, tzinfo=UTC)
    quiet = record_published(
        ledger,
        post_id="quiet",
        account="masto",
        platform="mastodon",
        remote_ids=["1", "2", "3"],
        published_at=when,
    )
    talked = record_published(
        ledger,
        post_id="talked",
        account="masto",
        platform="mastodon",
        remote_ids=["4", "5"],
        published_at=when,
    )
    # The platform counts part 2 as a reply to part 1 and part 3 as one to part 2.
    store.add_readings(
        [
            _reading(quiet, stage=3600, part=0, replies=1, likes=0),
            _reading(quiet, stage=3600, part=1, replies=1, likes=0),
            _reading(quiet, stage=3600, part=2, replies=0, likes=0),
            _reading(talked, stage=3600, part=0, replies=2, likes=0),
            _reading(talked, stage=3600, part=1, replies=0, likes=0),
        ]
    )
    said = {
        "kind": "reply",
        "author": "@alice",
        "text": "nice",
        "url": None,
        "created_at": when + timedelta(minutes=5),
    }
    store.add_interactions(
        account="masto",
        platform="mastodon",
        owners={"1": quiet.id, "4": talked.id},
        attention={},
        now=when + timedelta(hours=1),
        found=[
            Interaction(remote_id="2", in_reply_to="1", **said),  # our own part 2
            Interaction(remote_id="r1", in_reply_to="4", **said),
        ],
    )
    # One kept by an older klapper is left out too.
    with ledger.transaction() as conn:
        conn.execute(
            "INSERT INTO inbox (id, account, platform, remote_id, kind, author, text,"
            " created_at, by_self, seen_at) VALUES ('iold', 'masto', 'mastodon', '3',"
            " 'reply', '@shop', 'part 3', ?, 0, ?)",
            (utc_text(when), utc_text(when)),
        )

    report = build_report(ledger=ledger, since=NOW - timedelta(days=30), until=NOW, tz=BERLIN)

    posts = {p.post: p for p in report.posts}
    assert (posts["quiet"].figures["replies"], posts["quiet"].score) == (0, 0)
    assert posts["talked"].figures["replies"] == 1 and posts["talked"].inbox_replies == 1
    assert posts["quiet"].inbox_replies == 0
    [account] = report.accounts
    assert (account.figures["replies"], account.inbox_replies, account.open_items) == (1, 1, 1)
    assert [item.remote_id for item in store.inbox_items()] == ["r1"]
    assert max(score for _, score in report.timeline["mastodon"]) == 1


def test_timeline_grows_as_readings_come_in(ledger) -> None:
    post = record_published(
        ledger,
        post_id="p",
        account="x",
        platform="x",
        remote_ids=["9"],
        published_at=datetime(2026, 3, 16, 8, 0, tzinfo=UTC),
    )
    EngagementStore(ledger).add_readings(
        [_reading(post, stage=3600, likes=2), _reading(post, stage=3 * 86400, likes=10)]
    )
    report = build_report(
        ledger=ledger, since=datetime(2026, 3, 15, tzinfo=UTC), until=NOW, tz=BERLIN
    )
    series = dict(report.timeline["x"])
    assert [series[d] for d in sorted(series)] == [0, 2, 2, 2, 10, 10]


def test_csv_has_one_row_per_post_and_empty_cells_for_absent_figures(ledger) -> None:
    fill(ledger, now=NOW, days=10)
    report = build_report(ledger=ledger, since=NOW - timedelta(days=30), until=NOW, tz=BERLIN)
    rows = list(csv.DictReader(io.StringIO(report_csv(report))))
    assert len(rows) == len(report.posts) > 20
    masto = next(r for r in rows if r["platform"] == "mastodon")
    assert masto["views"] == "" and masto["likes"].isdigit()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d\+0[12]:00", masto["published_local"])
    data = report.to_json()
    assert {a["account"] for a in data["accounts"]} == {"masto", "bsky", "x", "li"}
    assert len(data["top_posts"]) == 10 and len(data["hours"]) == 24


def test_html_is_self_contained(ledger) -> None:
    fill(ledger, now=NOW)
    report = build_report(ledger=ledger, since=NOW - timedelta(days=30), until=NOW, tz=BERLIN)
    page = render_html(report, generated=NOW)
    assert page.count("<svg") == 4 and "<script" not in page
    # Nothing is loaded from elsewhere: no src=, no stylesheet links, no url(...) in the CSS.
    assert not re.search(r"\ssrc=|<link|url\(|@import", page)
    assert "Top posts" in page and "Best hours to post" in page


def test_an_empty_period_renders_without_charts(ledger) -> None:
    report = build_report(ledger=ledger, since=NOW - timedelta(days=7), until=NOW, tz=BERLIN)
    page = render_html(report, generated=NOW)
    assert "No reactions read yet" in page and "Nothing published in this period" in page


@pytest.mark.skipif(
    chromium() is None,
    reason="headless Chromium is not installed (Debian: apt-get install chromium)",
)
def test_html_renders_in_headless_chromium(ledger, tmp_path: Path) -> None:
    fill(ledger, now=NOW)
    report = build_report(ledger=ledger, since=NOW - timedelta(days=30), until=NOW, tz=BERLIN)
    page = tmp_path / "report.html"
    page.write_text(render_html(report, generated=NOW), encoding="utf-8")
    shot = tmp_path / "report.png"
    done = subprocess.run(
        [
            chromium(),
            *HEADLESS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1200,2000",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    assert (width, height) == (1200, 2000)
    assert shot.stat().st_size > 50_000  # charts and tables, not a blank page
