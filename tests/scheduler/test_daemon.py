"""`klapper run` as a real process: timers, file changes, catch-up, sd_notify, SIGTERM, SIGHUP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from klapper.ledger import Ledger, State, read_events
from tests.fakes.generic import FakeServer, token_for
from tests.scheduler.procs import NotifySocket, start, wait_for
from tests.scheduler.repo import TempRepo


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
def daemon(
    repo: TempRepo, state: Path, server: FakeServer, **options: object
) -> Iterator[subprocess.Popen]:
    """The daemon in a child process, killed at the end whatever the test did to it."""
    proc = start("daemon", repo=repo.root, state=state, api=server.url, **options)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def count(notify: NotifySocket, key: str) -> int:
    """How many sd_notify messages so far carry ``key``."""
    return sum(key in m for m in notify.poll())


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


def test_publishes_on_time_picks_up_changes_and_stops_cleanly(setup, notify) -> None:
    repo, state, server = setup
    # Planned an hour ahead: however long the start takes on a loaded machine, READY names it.
    repo.write("first", text="First", at=datetime.now(UTC) + timedelta(hours=1))
    proc = start("daemon", repo=repo.root, state=state, api=server.url, notify=notify)
    try:
        wait_for(lambda: notify.saw("READY", "1"), timeout=15)
        status = next(m["STATUS"] for m in notify.messages if "READY" in m)
        assert status.startswith("next: posts/first.yaml to a at ")
        assert texts(server) == []
        # Moved to 2 s after READY: file events re-arm its timer, which fires on time.
        due = datetime.now(UTC) + timedelta(seconds=2)
        repo.write("first", text="First", at=due)
        wait_for(lambda: texts(server) == ["First"], timeout=10)
        published_at = datetime.fromisoformat(server.platform.posts[0].created_at)
        assert timedelta(0) <= published_at - due < timedelta(seconds=1)
        reloads = count(notify, "RELOADING")
        assert reloads >= 1
        reloading = next(m for m in notify.messages if "RELOADING" in m)
        assert int(reloading["MONOTONIC_USEC"]) > 0
        # A new file is picked up by file events too.
        repo.write("second", text="Second", at=datetime.now(UTC) + timedelta(seconds=0.5))
        wait_for(lambda: texts(server) == ["First", "Second"], timeout=10)
        assert count(notify, "RELOADING") > reloads
        # SIGHUP re-reads everything too.
        reloads = count(notify, "RELOADING")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: count(notify, "RELOADING") > reloads, timeout=10)
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
        ledger.insert_planned(
            post_id=post,
            occurrence="",
            account="a",
            platform="outbox",
            due=due,
            content_hash="x",
            slotted=False,
            source=post,
            first_line="",
            now=old,
        )  # planned before klapper went down
    try:
        with daemon(repo, state, server) as proc:
            wait_for(lambda: texts(server) == ["Recent"], timeout=15)
            wait_for(lambda: [d.state for d in ledger.for_post("posts/old.yaml")] == [State.MISSED])
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
        wait_for(lambda: ledger.for_post("posts/slow.yaml")[0].state is State.PUBLISHED, timeout=15)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        ledger.close()
    assert texts(server) == ["Slow"]  # found on the platform, not posted again
    events = [e["event"] for e in read_events(state / "events.jsonl")]
    # Due before the new ledger existed: looked for first (absent); then the killed claim.
    assert events == ["reconciled", "unknown", "reconciled", "published"]


def test_a_hostile_file_name_adds_no_notify_field(setup, notify) -> None:
    repo, state, server = setup
    name = "x\nWATCHDOG=trigger\nMAINPID=1"
    repo.write(name, text="Later", at=datetime.now(UTC) + timedelta(hours=1))
    with daemon(repo, state, server, notify=notify) as proc:
        wait_for(lambda: notify.saw("READY", "1"), timeout=15)
        stop(proc)
    notify.poll()
    assert all(
        set(m) <= {"READY", "STATUS", "RELOADING", "MONOTONIC_USEC", "STOPPING"}
        for m in notify.messages
    ), notify.messages
    status = next(m["STATUS"] for m in notify.messages if "READY" in m)
    assert status.startswith("next: posts/x\\nWATCHDOG=trigger\\nMAINPID=1.yaml to a at ")


def test_a_burst_of_sighups_then_sigterm_stops_every_time(setup, tmp_path: Path) -> None:
    """Handlers that took locks stacked up on each other and hung the daemon for good.

    Ten daemons (one repository and state folder each) start side by side to keep this short.
    """
    _, _, server = setup
    runs = []
    try:
        for number in range(10):
            repo = TempRepo(tmp_path / f"repo{number}")
            sock = NotifySocket(repo.root)
            repo.configure(accounts=("a",))
            repo.write("later", text="Later", at=datetime.now(UTC) + timedelta(hours=1))
            proc = start(
                "daemon",
                repo=repo.root,
                state=tmp_path / f"state{number}",
                api=server.url,
                notify=sock,
            )
            runs.append((proc, sock))
        for number, (proc, sock) in enumerate(runs):
            wait_for(lambda sock=sock: sock.saw("READY", "1"), timeout=30)
            for count in range(1000):
                os.kill(proc.pid, signal.SIGHUP)
                if count % 4 == 0:
                    time.sleep(0.0005)  # not all at once: the kernel merges pending signals
            proc.send_signal(signal.SIGTERM)
            started = time.monotonic()
            assert proc.wait(timeout=5) == 0, f"daemon {number}"
            assert time.monotonic() - started < 5
    finally:
        for proc, sock in runs:
            proc.kill()
            proc.wait()
            sock.close()


def test_watchdog_pings_stop_while_the_main_loop_is_stuck(setup, notify, tmp_path: Path) -> None:
    """WATCHDOG=1 is proof that the loop doing the work turns, so systemd can restart it."""
    repo, state, server = setup
    wedge = tmp_path / "wedge"
    env = {"WATCHDOG_USEC": "100000", "KLAPPER_TEST_WEDGE": str(wedge)}  # a ping every 50 ms

    def pings() -> int:
        return sum(m.get("WATCHDOG") == "1" for m in notify.poll())

    with daemon(repo, state, server, notify=notify, extra_env=env) as proc:
        wait_for(lambda: pings() >= 3, timeout=15)
        wedge.touch()
        proc.send_signal(signal.SIGHUP)  # the reload it asks for gets stuck
        wait_for(lambda: notify.saw("RELOADING", "1"), timeout=5)
        stuck = pings()
        time.sleep(0.6)  # a dozen pings' worth
        assert pings() == stuck
        wedge.unlink()  # unstuck: the pings come back
        wait_for(lambda: pings() >= stuck + 3, timeout=5)
        stop(proc)


def test_a_reload_while_publishes_wait_overlaps_no_timer_and_logs_stay_json(setup) -> None:
    """A reload re-armed deliveries whose publish was in hand (waiting for the account's
    lock); APScheduler skipped those firings with a plain-text warning in the JSON log."""
    repo, state, server = setup
    server.platform.delay = 0.3
    for number in range(4):
        repo.write(f"p{number}", text=f"Post {number}", at=datetime.now(UTC))
    with daemon(repo, state, server) as proc:
        wait_for(lambda: server.platform.requests, timeout=15)
        for _ in range(3):  # each one re-arms what waits for the account's lock
            proc.send_signal(signal.SIGHUP)
            time.sleep(0.1)
        wait_for(lambda: len(texts(server)) == 4, timeout=10)
        stop(proc)
    assert sorted(texts(server)) == [f"Post {n}" for n in range(4)]
    lines = (state / "daemon.log").read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line, the libraries' too
    assert not [r for r in records if "running instances" in r["message"]]
