"""`klapper refresh` reads the website's visits next to the reactions, and a fault of the
analytics is one line that leaves the reactions alone (fake Mastodon and fake Matomo)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from typer.testing import CliRunner

from klapper.cli import app
from klapper.engagement.store import EngagementStore
from klapper.ledger import Ledger, read_events
from tests.engagement.helpers import record_published
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.matomo import SITE_ID, TOKEN, fake_matomo
from tests.fakes.site_visits import SiteState, Visit


@pytest.fixture
def world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FakeMastodon, SiteState, Path, Path]]:
    with FakeMastodon() as server, fake_matomo() as (base, site):
        repo, state = tmp_path / "repo", tmp_path / "state"
        (repo / "posts").mkdir(parents=True)
        (repo / "klapper.yaml").write_text(
            yaml.safe_dump(
                {
                    "timezone": "Europe/Berlin",
                    "accounts": {"masto": {"platform": "mastodon", "instance": server.url}},
                    "links": {"utm": {"source": "{platform}", "campaign": "{post}"}},
                    "analytics": {"matomo": {"url": base, "site_id": SITE_ID}},
                }
            ),
            encoding="utf-8",
        )
        monkeypatch.setenv("KLAPPER_SECRETS", str(tmp_path / "no-secrets.yaml"))
        monkeypatch.setenv("KLAPPER_MASTO_ACCESS_TOKEN", server.state.token)
        monkeypatch.setenv("KLAPPER_ANALYTICS_TOKEN", TOKEN)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        status = server.state.add_status(text="Our advent sale starts today")
        status["favourites_count"] = 7
        published = datetime.now(UTC) - timedelta(hours=2)
        ledger = Ledger.open(state=state)
        record_published(
            ledger,
            post_id="advent",
            account="masto",
            platform="mastodon",
            remote_ids=[status["id"]],
            published_at=published,
        )
        ledger.close()
        day = published.astimezone(ZoneInfo("Europe/Berlin")).date()
        site.add([Visit("advent", "mastodon", day, "a", goals=("booking",))])
        yield server, site, repo, state


def _refresh(repo: Path, state: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app, ["refresh", "--repo", str(repo), "--state", str(state)], catch_exceptions=False
    )
    return result.exit_code, result.stdout, result.stderr


def test_refresh_reads_visits_after_the_reactions(world) -> None:
    _, _, repo, state = world
    code, out, err = _refresh(repo, state)
    assert code == 0, out + err
    assert "1 readings from 1 account(s) in 1 request(s)" in out
    assert "visits: 1 readings from matomo in 1 request(s), 1 rows new or changed" in out
    kinds = [e["event"] for e in read_events(state / "events.jsonl")]
    assert kinds == ["engagement", "visits"]
    assert TOKEN.encode() not in (state / "events.jsonl").read_bytes()
    assert TOKEN.encode() not in (state / "ledger.sqlite3").read_bytes()


def test_a_refused_token_is_one_line_and_the_reactions_are_read(world, monkeypatch) -> None:
    _, site, repo, state = world
    monkeypatch.setenv("KLAPPER_ANALYTICS_TOKEN", "not-the-token-1234")
    code, out, err = _refresh(repo, state)
    assert code == 1
    assert "1 readings from 1 account(s)" in out  # the reactions went on
    (line,) = [line for line in err.splitlines() if line.startswith("matomo:")]
    assert "refused the token (HTTP 401" in line and "KLAPPER_ANALYTICS_TOKEN" in line
    assert "not-the-token-1234" not in out + err
    assert [e["event"] for e in read_events(state / "events.jsonl")] == ["engagement"]
    assert len(site.asked) == 1


def test_a_refused_token_is_notified_once_until_the_visits_are_read_again(
    world, monkeypatch, tmp_path: Path
) -> None:
    _, site, repo, state = world
    told = tmp_path / "told.txt"
    config = yaml.safe_load((repo / "klapper.yaml").read_text(encoding="utf-8"))
    # the notify command gets the message as its last argument: sh's $0 here
    config["notify"] = f'sh -c \'printf "%s\\n" "$0" >> {told}\''
    (repo / "klapper.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")

    def refresh_after_the_pause() -> list[str]:
        ledger = Ledger.open(state=state)
        EngagementStore(ledger).set_mark("visits:wait_until", "", now=datetime.now(UTC))
        ledger.close()
        where = ["--repo", str(repo), "--state", str(state)]
        CliRunner().invoke(app, ["refresh", "--now", *where], catch_exceptions=False)
        return told.read_text(encoding="utf-8").splitlines() if told.exists() else []

    monkeypatch.setenv("KLAPPER_ANALYTICS_TOKEN", "not-the-token-1234")
    (first,) = refresh_after_the_pause()
    assert first.startswith("klapper: the website's analytics cannot be read: matomo at ")
    assert "refused the token (HTTP 401" in first and "not-the-token-1234" not in first
    assert len(refresh_after_the_pause()) == 1  # refused again: not told again
    assert len(site.asked) == 2
    monkeypatch.setenv("KLAPPER_ANALYTICS_TOKEN", TOKEN)
    assert len(refresh_after_the_pause()) == 1  # read again
    assert len(site.asked) == 3
    monkeypatch.setenv("KLAPPER_ANALYTICS_TOKEN", "another-wrong-one")
    assert len(refresh_after_the_pause()) == 2  # refused after a good read: news again
    assert len(site.asked) == 4


def test_the_report_shows_what_the_post_brought(world, tmp_path: Path) -> None:
    _, _, repo, state = world
    assert _refresh(repo, state)[0] == 0
    where = ["--repo", str(repo), "--state", str(state)]
    result = CliRunner().invoke(app, ["report", "--format", "json", *where])
    funnel = json.loads(result.stdout)["funnel"]
    (account,) = funnel["accounts"]
    assert (account["name"], account["reactions"], account["visits"], account["goals"]) == (
        "masto",
        7,
        1,
        1,
    )
    assert account["visits_per_reaction"] == round(1 / 7, 4)
    page = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["report", "--html", str(page), *where])
    html = page.read_text(encoding="utf-8")
    assert result.exit_code == 0 and 'id="funnel"' in html and 'id="best-by-visits"' in html
