"""`klapper run` as a real process: timers, file changes, catch-up, sd_notify, SIGTERM, SIGHUP."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from klapper.ledger import Ledger, State, read_events
from tests.engine.procs import NotifySocket, start, wait_for
from tests.engine.repo import TempRepo
from tests.fakes.generic import FakeServer, token_for


@pytest.fixture
def setup(tmp_path: Path, server: FakeServer) -> Iterator[tuple[TempRepo, Path, FakeServer]]:
    repo = TempRepo(tmp_path / "repo")
    repo.configure(accounts=("a", "b"))
    for account in ("a", "b"):
        server.platform.tokens[token_for(account)] = account
    yield repo, tmp_path / "state", server


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path)
    yield sock
    sock.close()


def texts(server: FakeServer) -> list[str]:
    return [p.text for p in server.platform.posts]


@contextmanager
def daemon(repo: TempRepo, state: Path, server: FakeServer,
           **options: object) -> Iterator[subprocess.Popen]:
    """The daemon in a child process, killed at the end whatever the test did to it."""
    proc = start("daemon", repo=repo.root, state=state, api=server.url, **options)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


def test_publishes_on_time_picks_up_changes_and_stops_cleanly(setup, notify) -> None:
    repo, state, server = setup
    due = datetime.now(UTC) + timedelta(seconds=1.5)
    repo.write("first", text="First", at=due)
    proc = start("daemon", repo=repo.root, state=state, api=server.url, notify=notify)
    try:
        wait_for(lambda: notify.saw("READY", "1"), timeout=15)
        status = next(m["STATUS"] for m in notify.messages if "READY" in m)
        assert status.startswith("next: posts/first.yaml to a at ")
        wait_for(lambda: texts(server) == ["First"], timeout=10)
        published_at = datetime.fromisoformat(server.platform.posts[0].created_at)
        assert timedelta(0) <= published_at - due < timedelta(seconds=1)
        # A new file is picked up by file events within a second.
        repo.write("second", text="Second", at=datetime.now(UTC) + timedelta(seconds=0.5))
        wait_for(lambda: texts(server) == ["First", "Second"], timeout=3)
        assert notify.saw("RELOADING", "1")
        reloading = next(m for m in notify.messages if "RELOADING" in m)
        assert int(reloading["MONOTONIC_USEC"]) > 0
        # SIGHUP re-reads everything too.
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: sum("RELOADING" in m for m in notify.poll()) >= 2, timeout=5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert notify.saw("STOPPING", "1")
    finally:
        proc.kill()
        proc.wait()
    assert texts(server) == ["First", "Second"]


def test_catch_up_publishes_recent_and_marks_old_as_missed(setup) -> None:
    repo, state, server = setup
    now = datetime.now(UTC)
    recent, old = now - timedelta(hours=1), now - timedelta(hours=3)
    repo.write("recent", text="Recent", at=recent)
    repo.write("old", text="Old", at=old)
    ledger = Ledger.open(state=state)
    for post, due in (("posts/recent.yaml", recent), ("posts/old.yaml", old)):
        ledger.insert_planned(post_id=post, occurrence="", account="a", platform="outbox",
                              due=due, content_hash="x", slotted=False, source=post,
                              first_line="", now=old)  # planned before klapper went down
    try:
        with daemon(repo, state, server) as proc:
            wait_for(lambda: texts(server) == ["Recent"], timeout=15)
            wait_for(lambda: [d.state for d in ledger.for_post("posts/old.yaml")]
                     == [State.MISSED])
            stop(proc)
    finally:
        ledger.close()
    missed = [e for e in read_events(state / "events.jsonl") if e["event"] == "missed"]
    assert [e["post"] for e in missed] == ["posts/old.yaml"]


def test_sigterm_lets_the_publish_in_hand_finish(setup) -> None:
    repo, state, server = setup
    server.platform.delay = 0.7  # within the client's 1 s timeout
    repo.write("slow", text="Slow", at=datetime.now(UTC))
    with daemon(repo, state, server) as proc:
        wait_for(lambda: server.platform.requests, timeout=15)  # the POST is on its way
        stop(proc)
    ledger = Ledger.open(state=state)
    (row,) = ledger.for_post("posts/slow.yaml")
    assert row.state is State.PUBLISHED and texts(server) == ["Slow"]
    ledger.close()


def test_second_sigterm_exits_at_once_and_nothing_is_lost(setup) -> None:
    repo, state, server = setup
    server.platform.delay = 2.0
    repo.write("slow", text="Slow", at=datetime.now(UTC))
    proc = start("daemon", repo=repo.root, state=state, api=server.url)
    try:
        wait_for(lambda: server.platform.requests, timeout=15)
        proc.send_signal(signal.SIGTERM)
        log = state / "daemon.log"
        wait_for(lambda: "letting publishes in hand finish" in log.read_text(), timeout=5)
        proc.send_signal(signal.SIGTERM)  # the publish in hand is still waiting for its answer
        assert proc.wait(timeout=0.5) == 130
    finally:
        proc.kill()
        proc.wait()
    wait_for(lambda: texts(server) == ["Slow"], timeout=5)  # the server finished the POST
    server.platform.delay = 0
    proc = start("daemon", repo=repo.root, state=state, api=server.url)
    ledger = Ledger.open(state=state)
    try:
        wait_for(lambda: ledger.for_post("posts/slow.yaml")[0].state is State.PUBLISHED,
                 timeout=15)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        ledger.close()
    assert texts(server) == ["Slow"]  # found on the platform, not posted again
    events = [e["event"] for e in read_events(state / "events.jsonl")]
    assert events == ["unknown", "reconciled", "published"]


def test_a_hostile_file_name_adds_no_notify_field(setup, notify) -> None:
    repo, state, server = setup
    name = "x\nWATCHDOG=trigger\nMAINPID=1"
    repo.write(name, text="Later", at=datetime.now(UTC) + timedelta(hours=1))
    with daemon(repo, state, server, notify=notify) as proc:
        wait_for(lambda: notify.saw("READY", "1"), timeout=15)
        stop(proc)
    notify.poll()
    assert all(set(m) <= {"READY", "STATUS", "RELOADING", "MONOTONIC_USEC", "STOPPING"}
               for m in notify.messages), notify.messages
    status = next(m["STATUS"] for m in notify.messages if "READY" in m)
    assert status.startswith("next: posts/x\\nWATCHDOG=trigger\\nMAINPID=1.yaml to a at ")
