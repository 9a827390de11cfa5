"""`klapper refresh`, `inbox`, `inbox done` and `report` end to end against a fake Mastodon."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from klapper.cli import app
from klapper.engagement.store import EngagementStore
from klapper.ledger import Ledger, read_events
from tests.engagement.helpers import (
    bulk_published,
    mastodon_repo,
    published_status,
    record_published,
)
from tests.fakes.mastodon import FakeMastodon


@pytest.fixture
def setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FakeMastodon, Path, Path]]:
    with FakeMastodon() as server:
        repo, state = mastodon_repo(
            tmp_path, monkeypatch, instance=server.url, token=server.state.token
        )
        yield server, repo, state


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_refresh_inbox_done_and_report(setup, tmp_path: Path) -> None:
    server, repo, state = setup
    status = published_status(
        server, state, text="Our advent sale starts today", post_id="advent", ago=timedelta(hours=2)
    )
    status["favourites_count"], status["reblogs_count"] = 12, 3
    reply = server.state.add_reply(to=status["id"], text="Gilt das auch für Gutscheine?")
    where = ["--repo", str(repo), "--state", str(state)]

    code, out, _ = _run("refresh", *where)
    assert code == 0, out
    assert "1 readings from 1 account(s) in 1 request(s); 1 new in the inbox" in out
    [event] = [e for e in read_events(state / "events.jsonl") if e["event"] == "engagement"]
    assert (event["likes"], event["reposts"], event["stage"]) == (12, 3, "1h")

    code, out, _ = _run("inbox", "--format", "json", *where)
    [item] = json.loads(out)
    assert (item["author"], item["kind"], item["attention"]) == ("@alice", "reply", "question")
    assert item["url"].endswith(reply["id"])
    code, out, _ = _run("inbox", *where)
    assert item["id"] in out and "question" in out and f"answer: {item['url']}" in out

    code, out, _ = _run("inbox", "done", item["id"], "--state", str(state))
    assert code == 0 and "done" in out
    assert "Nothing waits" in _run("inbox", *where)[1]
    code, _, err = _run("inbox", "done", "i0000000000", "--state", str(state))
    assert code == 1 and "no inbox item" in err

    code, out, _ = _run("report", "--since", "7d", "--format", "json", *where)
    data = json.loads(out)
    [account] = data["accounts"]
    assert (account["posts"], account["reactions"]["likes"], account["replies"]) == (1, 12, 1)
    assert account["reactions"]["views"] is None and data["timezone"] == "Europe/Berlin"
    code, out, _ = _run("report", "--format", "csv", *where)
    [row] = list(csv.DictReader(io.StringIO(out)))
    assert (row["likes"], row["views"], row["score"]) == ("12", "", "16")  # + 1 reply
    code, out, _ = _run("report", *where)
    assert "Top posts" in out and "masto" in out
    page = tmp_path / "report.html"
    code, _, err = _run("report", "--html", str(page), *where)
    assert code == 0 and "<svg" in page.read_text(encoding="utf-8")

    # The credential never reaches the ledger or the event log.
    token = server.state.token.encode()
    assert token not in (state / "ledger.sqlite3").read_bytes()
    assert token not in (state / "events.jsonl").read_bytes()


def test_refresh_reports_an_account_it_could_not_read(setup) -> None:
    server, repo, state = setup
    status = server.state.add_status(text="hello")
    ledger = Ledger.open(state=state)
    record_published(
        ledger,
        post_id="hello",
        account="masto",
        platform="mastodon",
        remote_ids=[status["id"]],
        published_at=datetime.now(UTC) - timedelta(hours=2),
    )
    ledger.close()
    server.state.fail_next("auth", method="GET", path="/api/v1/statuses")
    code, out, err = _run("refresh", "--repo", str(repo), "--state", str(state))
    assert code == 1 and "1 readings left for a later round" in out
    assert "masto: credential refused while reading" in err and "klapper login masto" in err
    assert server.state.token not in out + err


def test_usage_errors_say_what_to_do(setup, tmp_path: Path) -> None:
    _, repo, state = setup
    code, _, err = _run("report", "--since", "a while", "--repo", str(repo), "--state", str(state))
    assert code == 2 and "write e.g. 90s, 30m, 2h, 1d or 1w" in err
    code, _, err = _run("inbox", "--repo", str(repo), "--state", str(tmp_path / "empty"))
    assert code == 2 and "no ledger in" in err and "--state" in err


def test_refresh_says_why_each_account_waits(setup) -> None:
    server, repo, state = setup
    where = ["--repo", str(repo), "--state", str(state)]
    ledger = Ledger.open(state=state)
    hour_ago = datetime.now(UTC) - timedelta(hours=1, minutes=1)
    bulk_published(
        ledger,
        [
            (
                f"p{n}",
                "masto",
                "mastodon",
                server.state.add_status(text=f"post {n}")["id"],
                hour_ago,
            )
            for n in range(25)
        ],
    )
    now = datetime.now(UTC)

    # A failed read: the next round says why it waits, not "rate limited".
    server.state.fail_next("server_error", method="GET", path="/api/v1/statuses")
    assert _run("refresh", *where)[0] == 1
    code, _, err = _run("refresh", *where)
    assert "masto: reading failed" in err and "rate limited" not in err
    assert "reading again after" in err

    # The publisher holds the account back for a rate limit.
    ledger.set_account(
        "masto",
        now=now,
        wait_until=now + timedelta(minutes=10),
        wait_reason="429 Too Many Requests",
    )
    code, _, err = _run("refresh", *where)
    assert "masto: rate limited while publishing: 429 Too Many Requests" in err

    # The publisher paused it: no time to wait for, a command to run.
    ledger.set_account(
        "masto", now=now, wait_until=None, paused_at=now, pause_reason="token revoked"
    )
    code, out, err = _run("refresh", *where)
    assert "masto: paused: token revoked" in err and "klapper login masto" in err
    assert "reading again" not in err and "25 readings left" in out

    # Resumed, with its engagement wait over: the budget of one request leaves 5 of 25.
    ledger.set_account("masto", now=now, paused_at=None, pause_reason=None)
    with ledger.transaction() as conn:
        conn.execute("UPDATE engagement_accounts SET wait_until = NULL, wait_reason = NULL")
    ledger.close()
    config = yaml.safe_load((repo / "klapper.yaml").read_text(encoding="utf-8"))
    config["engagement"] = {"budget": 1}
    (repo / "klapper.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    code, out, err = _run("refresh", *where)
    assert code == 0 and "5 readings left" in out
    assert "masto: 5 readings wait for the next round: the budget of 1 requests" in err


def test_refresh_now_reads_every_post_inside_its_window_once(setup) -> None:
    server, repo, state = setup
    where = ["--repo", str(repo), "--state", str(state)]
    now = datetime.now(UTC)
    fresh = server.state.add_status(text="ten minutes old")
    read = server.state.add_status(text="two hours old, read at 1h")
    old = server.state.add_status(text="forty days old: past the last reading (30d)")
    ledger = Ledger.open(state=state)
    rows = {
        post_id: record_published(
            ledger,
            post_id=post_id,
            account="masto",
            platform="mastodon",
            remote_ids=[status["id"]],
            published_at=now - age,
        )
        for post_id, status, age in (
            ("fresh", fresh, timedelta(minutes=10)),
            ("read", read, timedelta(hours=2)),
            ("old", old, timedelta(days=40)),
        )
    }
    ledger.close()
    code, out, _ = _run("refresh", *where)  # the schedule: 1h for one, 30d (its last) for one
    assert code == 0 and out.startswith("2 readings from 1 account(s)"), out
    fresh["favourites_count"] = 5
    server.state.add_reply(to=fresh["id"], text="Schon vorbei?")
    code, out, _ = _run("refresh", *where)  # nothing due, the inbox read was just now
    assert out.startswith("0 readings") and "0 new in the inbox" in out
    before = server.state.count("GET", "/api/v1/statuses")

    code, out, _ = _run("refresh", "--now", *where)

    assert code == 0, out
    assert "2 readings from 1 account(s)" in out and "1 new in the inbox" in out
    assert server.state.count("GET", "/api/v1/statuses") - before == 1  # one batch
    events = [e for e in read_events(state / "events.jsonl") if e["event"] == "engagement"]
    assert sorted(e["post"] for e in events[2:]) == ["fresh", "read"]
    assert next(e for e in events if e["post"] == "fresh")["likes"] == 5
    # The schedule is kept: the fresh post's 1h reading is still to come, nothing is due now.
    assert _run("refresh", *where)[1].startswith("0 readings")
    ledger = Ledger.open(state=state)
    taken = EngagementStore(ledger).stages_taken()
    ledger.close()
    assert 590 <= taken[(rows["fresh"].id, 0)] <= 900  # its age when read, below the 1h stage
    assert 7200 <= taken[(rows["read"].id, 0)] < 6 * 3600  # the 6h reading is still to come


def test_refresh_now_keeps_to_the_budget(setup) -> None:
    server, repo, state = setup
    config = yaml.safe_load((repo / "klapper.yaml").read_text(encoding="utf-8"))
    config["engagement"] = {"budget": 1}
    (repo / "klapper.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    ledger = Ledger.open(state=state)
    recent = datetime.now(UTC) - timedelta(minutes=5)
    bulk_published(
        ledger,
        [
            (f"p{n}", "masto", "mastodon", server.state.add_status(text=f"post {n}")["id"], recent)
            for n in range(25)
        ],
    )
    ledger.close()
    code, out, err = _run("refresh", "--now", "--repo", str(repo), "--state", str(state))
    assert code == 0 and "20 readings from 1 account(s) in 1 request(s)" in out
    assert "5 readings left" in out and "budget of 1 requests" in err
