"""A deleted or emptied ledger: rebuilt from the event log, and nothing goes out twice (9.1)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from klapper.cli import app
from klapper.ledger import EventLog, Ledger, State, read_events
from klapper.ledger.rebuild import rebuild
from klapper.ledger.store import LEDGER_FILE
from klapper.scheduler.engine import Engine
from tests.fakes.generic import FakeServer, generic_factory, token_for
from tests.scheduler.helpers import Clock, make_post
from tests.scheduler.repo import TempRepo


@pytest.fixture
def repo(tmp_path: Path, server: FakeServer) -> TempRepo:
    r = TempRepo(tmp_path / "repo")
    r.configure(accounts=("a", "b"))
    for account in ("a", "b"):
        server.platform.tokens[token_for(account)] = account
    return r


def run_due(repo: TempRepo, state: Path, server: FakeServer) -> list[str]:
    """One `publish --due` on the fake platform (no deduplication there); returns its events."""
    engine = Engine(
        repo=repo.root,
        state=state,
        adapters_for=lambda config, root: generic_factory(
            api_base=server.url, repo=root, timeout=2.0
        ),
    )
    try:
        engine.reload()
        engine.recover()
        assert engine.publisher is not None
        return [o.event for o in engine.publisher.publish_due()]
    finally:
        engine.close()


def write_posts(repo: TempRepo) -> None:
    past = datetime.now(UTC) - timedelta(minutes=5)
    repo.write("one", text="One", at=past, to=["a", "b"])
    repo.write(
        "thread",
        text="Thread",
        at=past,
        to=["a"],
        thread=[{"text": "Thread 2"}, {"text": "Thread 3"}],
    )


def lose(state: Path, *, how: str) -> None:
    ledger = state / LEDGER_FILE
    for extra in ("-wal", "-shm"):
        Path(f"{ledger}{extra}").unlink(missing_ok=True)
    if how == "deleted":
        ledger.unlink()
    else:
        ledger.write_bytes(b"")


def keys(server: FakeServer) -> Counter[str]:
    return Counter(p.key for p in server.platform.posts)


@pytest.mark.parametrize("how", ["deleted", "emptied"])
def test_a_lost_ledger_is_rebuilt_from_the_event_log_and_publishes_nothing_again(
    repo: TempRepo, server: FakeServer, tmp_path: Path, how: str
) -> None:
    write_posts(repo)
    state = tmp_path / "state"
    assert sorted(run_due(repo, state, server)) == ["published"] * 3
    assert len(server.platform.posts) == 5
    lose(state, how=how)
    assert run_due(repo, state, server) == []
    assert len(server.platform.posts) == 5 and set(keys(server).values()) == {1}
    ledger = Ledger.open(state=state)
    rows = ledger.deliveries()
    assert [d.state for d in rows] == [State.PUBLISHED] * 3
    thread = ledger.for_post("posts/thread.yaml")[0]
    on_server = [p.id for p in server.platform.posts if p.text.startswith("Thread")]
    assert [p.remote_id for p in ledger.parts(thread.id)] == on_server  # reactions still read
    assert all(d.content_hash for d in rows)  # the next sync took the content, not "edited"
    ledger.close()
    assert not [e for e in read_events(state / "events.jsonl") if e["event"] == "edited"]


def test_a_past_due_delivery_the_new_ledger_never_saw_is_looked_for_part_by_part(
    repo: TempRepo, server: FakeServer, tmp_path: Path
) -> None:
    """Two parts of a thread went out, then the ledger and its log lines were lost."""
    write_posts(repo)
    state = tmp_path / "state"
    run_due(repo, state, server)
    thread_keys = [p.key for p in server.platform.posts if p.text.startswith("Thread")]
    with server.platform._lock:  # the third part never went out
        server.platform.posts = [p for p in server.platform.posts if p.key != thread_keys[2]]
    lose(state, how="deleted")
    (state / "events.jsonl").unlink()
    assert sorted(run_due(repo, state, server)) == ["published"] * 3
    counts = keys(server)
    assert set(counts.values()) == {1} and len(counts) == 5  # only the third part was posted
    events = read_events(state / "events.jsonl")
    found = [(e["post"], e["part"], e["found"]) for e in events if e["event"] == "reconciled"]
    assert ("posts/thread.yaml", 0, True) in found and ("posts/thread.yaml", 1, True) in found
    assert ("posts/thread.yaml", 2, False) in found


def test_a_delivery_due_after_the_ledger_was_made_is_not_looked_for(
    repo: TempRepo, server: FakeServer, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    repo.write("soon", text="Soon", at=datetime.now(UTC) + timedelta(hours=1))
    run_due(repo, state, server)
    ledger = Ledger.open(state=state)
    assert [d.state for d in ledger.deliveries()] == [State.PLANNED]
    ledger.close()


def test_rebuild_replays_each_deliverys_last_word(tmp_path: Path) -> None:
    clock = Clock()
    log = EventLog(tmp_path / "events.jsonl")
    scratch = Ledger.open(state=tmp_path / "scratch")
    rows = {}
    for name in ("published", "skipped", "retry", "failed", "missed", "renamed"):
        post = make_post(name)
        rows[name] = scratch.insert_planned(
            post_id=post.id,
            occurrence="",
            account="a",
            platform="outbox",
            due=clock.now,
            content_hash="h",
            slotted=False,
            source=post.source.file,
            first_line="x",
            now=clock.now,
        )
    log.emit("retry", delivery=rows["published"], reason="503")
    log.emit(
        "published",
        delivery=rows["published"],
        remote_id="r1",
        url="http://x/r1",
        due=clock.now.isoformat(),
    )
    log.emit("retry", delivery=rows["published"], reason="a late line")  # settled already
    log.emit("skipped", delivery=rows["skipped"])
    log.emit("retry", delivery=rows["retry"], reason="timeout")
    log.emit("failed", delivery=rows["failed"], reason="422")
    log.emit("missed", delivery=rows["missed"], due=clock.now.isoformat())
    log.emit("unknown", delivery=rows["renamed"])
    log.emit("renamed", delivery=rows["renamed"], old_post="posts/old.yaml")
    log.emit("paused", account="a", platform="generic", reason="token revoked")
    log.emit("paused", account="b", platform="generic", reason="revoked")
    log.emit("resumed", account="b", platform="generic")
    log.close()
    ledger = Ledger.open(state=tmp_path / "state")
    report = rebuild(
        ledger, events=read_events(tmp_path / "events.jsonl"), now=clock.now, only_if_empty=True
    )
    assert report is not None and report.total == 6 and report.paused == ["a"]
    got = {d.post_id.removeprefix("posts/").removesuffix(".yaml"): d for d in ledger.deliveries()}
    assert got["published"].state is State.PUBLISHED and got["published"].remote_id == "r1"
    assert got["skipped"].state is State.SKIPPED and got["missed"].state is State.MISSED
    assert got["retry"].state is State.UNKNOWN and got["retry"].retry_at == clock.now
    assert got["failed"].state is State.FAILED and got["failed"].final
    assert got["renamed"].state is State.UNKNOWN
    assert ledger.accounts()["a"].paused_at is not None and "b" not in ledger.accounts()
    assert ledger.trust_from() == clock.now
    # Only an empty ledger is rebuilt by itself; by hand, rows it has are kept.
    assert rebuild(ledger, events=[], now=clock.now, only_if_empty=True) is None
    again = rebuild(
        ledger, events=read_events(tmp_path / "events.jsonl"), now=clock.now, only_if_empty=False
    )
    assert again is not None and again.total == 0 and again.kept == 6
    ledger.close()
    scratch.close()


def test_klapper_ledger_rebuild_by_hand(tmp_path: Path) -> None:
    repo = TempRepo(tmp_path / "repo")
    repo.configure(accounts=("a",))
    repo.write("hello", text="Hello", at=datetime.now(UTC) - timedelta(minutes=1))
    runner = CliRunner()
    where = ["--repo", str(repo.root), "--state", str(tmp_path / "state")]
    assert runner.invoke(app, ["publish", "--due", *where]).exit_code == 0
    (tmp_path / "state" / LEDGER_FILE).unlink()
    result = runner.invoke(app, ["ledger", "rebuild", *where])
    assert result.exit_code == 0, result.output
    assert "rebuilt 1 deliveries" in result.output and "1 published" in result.output
    status = runner.invoke(app, ["status", "--format", "json", *where])
    assert json.loads(status.output)["recent"][0]["state"] == "published"
    empty = runner.invoke(app, ["ledger", "rebuild", "--state", str(tmp_path / "none")])
    assert empty.exit_code == 1 and "no events to rebuild from" in empty.output
