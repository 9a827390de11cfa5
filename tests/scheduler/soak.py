"""The shared-ledger soak: N daemons on one PostgreSQL ledger publish a burst of deliveries due
within a window to a counting platform (no idempotency), while being SIGKILLed and restarted.

Used by tests/scheduler/test_soak_pg.py (short) and benchmarks/soak_pg.py (3,000 deliveries).
Afterwards every delivery must be on the platform exactly once: ``duplicates`` and ``losses``
count the breaches. Lateness is the platform's time of the post minus its due time.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from klapper.ledger import Ledger, State, idempotency_key
from tests.fakes.generic import FakeServer, token_for
from tests.scheduler.procs import start, stop_all, wait_for
from tests.scheduler.repo import TempRepo


@dataclass
class SoakReport:
    daemons: int
    deliveries: int
    kills: int = 0
    duplicates: list[str] = field(default_factory=list)  # keys posted more than once
    losses: list[str] = field(default_factory=list)  # deliveries never posted
    not_published: int = 0  # not PUBLISHED in the ledger at the end
    ready_before_due: bool = True  # every first daemon was up before the first delivery was due
    throughput: float = 0.0  # posts per second from the first to the last
    lateness_p50: float = 0.0
    lateness_p99: float = 0.0
    lateness_max: float = 0.0
    seconds: float = 0.0  # from the first due time to the last post


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


class Fleet:
    """``count`` daemons, each with its own state folder, on one repository and one ledger."""

    def __init__(self, folder: Path, *, count: int, repo: Path, api: str, url: str) -> None:
        self.folder, self.repo, self.api, self.url = folder, repo, api, url
        self.procs: dict[int, subprocess.Popen] = {}
        # The first plans every delivery into the ledger; the others then find them there.
        self.launch(0)
        _wait_ready(folder, daemons=1)
        for number in range(1, count):
            self.launch(number)

    def launch(self, number: int) -> None:
        state = self.folder / f"daemon{number}"
        self.procs[number] = start(
            "daemon", repo=self.repo, state=state, api=self.api, ledger=self.url, refresh=30.0
        )

    def kill_and_restart(self, number: int) -> None:
        proc = self.procs[number]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.launch(number)

    def stop(self) -> None:
        stop_all(list(self.procs.values()))


def soak(
    folder: Path,
    *,
    url: str,
    deliveries: int,
    daemons: int,
    window: float,
    kills: int,
    lead: float,
    seed: int = 1,
    accounts: int = 10,
    lease: float = 5.0,
    delay: float = 0.02,
    settle: float = 120.0,
) -> SoakReport:
    """Deliveries due evenly over ``window`` seconds, the first ``lead`` seconds from now."""
    rng = random.Random(seed)
    names = tuple(f"acct{n:02d}" for n in range(accounts))
    repo = TempRepo(folder / "repo")
    repo.configure(
        accounts=names,
        publishing={"backoff": "1s", "max_backoff": "5s", "timeout": "5s", "lease": f"{lease}s"},
    )
    first_due = datetime.now(UTC) + timedelta(seconds=lead)
    for number in range(deliveries):
        due = first_due + timedelta(seconds=window * number / deliveries)
        repo.write(
            f"p{number:05d}", text=f"Soak post {number}", at=due, to=[names[number % accounts]]
        )
    report = SoakReport(daemons=daemons, deliveries=deliveries)
    with FakeServer() as server:
        server.platform.delay = delay  # a platform takes a moment to answer
        for name in names:
            server.platform.tokens[token_for(name)] = name
        ledger = Ledger.open(state=folder / "observer", url=url)
        fleet = Fleet(folder, count=daemons, repo=repo.root, api=server.url, url=url)
        try:
            _wait_ready(folder, daemons=daemons)
            report.ready_before_due = datetime.now(UTC) < first_due
            start_at = time.monotonic() + max(0.0, (first_due - datetime.now(UTC)).total_seconds())
            for moment in sorted(rng.uniform(0, window) for _ in range(kills)):
                time.sleep(max(0.0, start_at + moment - time.monotonic()))
                fleet.kill_and_restart(rng.randrange(daemons))
                report.kills += 1
            wait_for(
                lambda: (
                    all(d.state is State.PUBLISHED for d in ledger.deliveries())
                    and len(ledger.deliveries()) == deliveries
                ),
                timeout=window + settle,
                every=0.5,
            )
        except AssertionError:
            pass  # counted below as not published / lost
        finally:
            fleet.stop()
            rows = ledger.deliveries()
            ledger.close()
        posts = list(server.platform.posts)
    _count(report, rows=rows, posts=posts)
    return report


def _wait_ready(folder: Path, *, daemons: int) -> None:
    """Until every daemon logged that it runs (its first sync into the ledger is done)."""
    logs = [folder / f"daemon{n}" / "daemon.log" for n in range(daemons)]
    wait_for(
        lambda: all(log.exists() and "klapper running" in log.read_text() for log in logs),
        timeout=300,
        every=0.2,
    )


def _count(report: SoakReport, *, rows: list, posts: list) -> None:
    keys = Counter(post.key for post in posts)
    report.duplicates = [key for key, seen in keys.items() if seen > 1]
    first_post = {}
    for post in posts:
        first_post.setdefault(post.key, datetime.fromisoformat(post.created_at))
    lateness = []
    for row in rows:
        key = idempotency_key(row.id, 0)
        if key not in first_post:
            report.losses.append(row.id)
        else:
            lateness.append((first_post[key] - row.due).total_seconds())
    report.losses += ["(never planned)"] * max(0, report.deliveries - len(rows))
    report.not_published = sum(row.state is not State.PUBLISHED for row in rows)
    if lateness:
        report.lateness_p50 = percentile(lateness, 0.50)
        report.lateness_p99 = percentile(lateness, 0.99)
        report.lateness_max = max(lateness)
    if first_post:
        times = sorted(first_post.values())
        span = (times[-1] - times[0]).total_seconds()
        report.throughput = len(times) / span if span > 0 else float(len(times))
        report.seconds = (times[-1] - min(row.due for row in rows)).total_seconds()
