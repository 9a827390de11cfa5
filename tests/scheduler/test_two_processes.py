"""The daemon and a manual `publish --due` at the same time never both publish one delivery."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from klapper.ledger import Ledger, State
from tests.fakes.generic import FakeServer, token_for
from tests.scheduler.procs import ROOT, start, wait_for
from tests.scheduler.repo import TempRepo


def test_daemon_and_batch_runs_share_the_work_without_duplicates(
    tmp_path: Path, server: FakeServer
) -> None:
    repo = TempRepo(tmp_path / "repo")
    repo.configure(accounts=("a", "b", "c"))
    for account in ("a", "b", "c"):
        server.platform.tokens[token_for(account)] = account
    server.platform.delay = 0.03
    now = datetime.now(UTC)
    for number in range(20):
        repo.write(f"p{number:02d}", text=f"Post {number}", at=now, to=["a", "b", "c"])
    state = tmp_path / "state"
    daemon = start("daemon", repo=repo.root, state=state, api=server.url)
    batches = [start("due", repo=repo.root, state=state, api=server.url) for _ in range(2)]
    try:
        for batch in batches:
            batch.wait(timeout=60)
        ledger = Ledger.open(state=state)
        wait_for(
            lambda: (
                len(ledger.deliveries()) == 60
                and all(d.state is State.PUBLISHED for d in ledger.deliveries())
            ),
            timeout=30,
        )
        ledger.close()
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=15)
    keys = Counter(p.key for p in server.platform.posts)
    assert len(keys) == 60 and set(keys.values()) == {1}
    # Each delivery was published by exactly one of the three processes.
    logs = [(state / f"{mode}.log").read_text() for mode in ("daemon", "due")]
    assert sum(log.count('"message": "published ') for log in logs) == 60


def test_daemon_three_batches_and_status_loop_sync_without_integrity_errors(
    tmp_path: Path, server: FakeServer
) -> None:
    """Issue 9.3: every process syncs the same new posts at once; none may crash."""
    repo = TempRepo(tmp_path / "repo")
    repo.configure(accounts=("a", "b", "c"))
    for account in ("a", "b", "c"):
        server.platform.tokens[token_for(account)] = account
    now = datetime.now(UTC)
    for number in range(150):
        repo.write(
            f"p{number:02d}",
            text=f"Post {number}",
            at=now + timedelta(seconds=number % 3),
            to=["a", "b", "c"],
        )
    state = tmp_path / "state"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    status = [
        str(Path(sys.executable).with_name("klapper")),
        "status",
        "--repo",
        str(repo.root),
        "--state",
        str(state),
    ]
    daemon = start("daemon", repo=repo.root, state=state, api=server.url, refresh=0.5)
    batches = [start("due", repo=repo.root, state=state, api=server.url) for _ in range(3)]
    statuses = []
    try:
        deadline = time.monotonic() + 60
        while any(b.poll() is None for b in batches) or len(statuses) < 3:
            statuses.append(
                subprocess.run(status, env=env, capture_output=True, text=True, timeout=60)
            )
            assert time.monotonic() < deadline
        ledger = Ledger.open(state=state)
        wait_for(
            lambda: (
                len(ledger.deliveries()) == 450
                and all(d.state is State.PUBLISHED for d in ledger.deliveries())
            ),
            timeout=30,
        )
        ledger.close()
        assert daemon.poll() is None, "the daemon died"
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=15)
    logs = "".join((state / f"{mode}.log").read_text() for mode in ("daemon", "due"))
    logs += "".join(run.stderr for run in statuses)
    assert "Traceback" not in logs and "IntegrityError" not in logs
    assert [run.returncode for run in statuses] == [0] * len(statuses), statuses[-1].stderr
    assert {b.returncode for b in batches} <= {0, 1}  # 1: a delivery not yet due at its start
    keys = Counter(p.key for p in server.platform.posts)
    assert len(keys) == 450 and set(keys.values()) == {1}
