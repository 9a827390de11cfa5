"""The crash drill: the daemon publishes a batch while being SIGKILLed and restarted, again and
again; then every part must exist exactly once on the fake platform and the ledger must agree.

Used by tests/engine/test_crash.py (short) and benchmarks/crash_soak.py (long).
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from klapper.ledger import Ledger, State, idempotency_key
from tests.engine.procs import start, wait_for
from tests.engine.repo import TempRepo
from tests.fakes.generic import FakeServer, token_for


@dataclass
class CrashReport:
    kills: int = 0
    deliveries: int = 0
    parts: int = 0
    duplicates: list[str] = field(default_factory=list)  # keys seen more than once
    losses: list[str] = field(default_factory=list)  # keys never seen
    strays: list[str] = field(default_factory=list)  # posts with no key klapper knows
    ledger_mismatches: list[str] = field(default_factory=list)
    unknown_resolved: int = 0
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return not (self.duplicates or self.losses or self.strays or self.ledger_mismatches)


def write_batch(repo: TempRepo, *, posts: int, spread: float, rng: random.Random) -> None:
    """``posts`` posts to two accounts, a third of them threads, due over ``spread`` seconds.

    Each post's thread (if any) and due time are fixed by its number; ``rng`` shuffles the
    order the files are written in.
    """
    start_at = datetime.now(UTC)
    numbers = list(range(posts))
    rng.shuffle(numbers)
    for number in numbers:
        due = start_at + timedelta(seconds=spread * number / max(posts - 1, 1))
        thread = [{"text": f"Post {number}, part {k}"} for k in (2, 3)] if number % 3 == 0 else []
        repo.write(f"p{number:04d}", text=f"Post {number}", at=due, to=["a", "b"],
                   **({"thread": thread} if thread else {}))


def drill(folder: Path, *, posts: int = 30, kills: int = 10, seed: int = 1,
          spread: float = 1.0, kill_after: tuple[float, float] = (0.0, 0.2),
          server_delay: float = 0.05, settle: float = 60.0) -> CrashReport:
    """Run the drill in ``folder``; returns what it found (never raises on a bad outcome)."""
    rng = random.Random(seed)
    report = CrashReport()
    began = time.monotonic()
    repo = TempRepo(folder / "repo")
    repo.configure(accounts=("a", "b"))
    state = folder / "state"
    with FakeServer() as server:
        server.platform.delay = server_delay
        for account in ("a", "b"):
            server.platform.tokens[token_for(account)] = account
        write_batch(repo, posts=posts, spread=spread, rng=rng)
        for _ in range(kills):
            seen = len(server.platform.requests)
            proc = start("daemon", repo=repo.root, state=state, api=server.url, refresh=0.5)
            try:  # kill it while it talks to the platform: that is where it hurts
                wait_for(lambda: len(server.platform.requests) > seen, timeout=10, every=0.005)
            except AssertionError:
                pass  # nothing left to publish; kill it anyway
            time.sleep(rng.uniform(*kill_after))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            report.kills += 1
        proc = start("daemon", repo=repo.root, state=state, api=server.url, refresh=0.5)
        ledger = Ledger.open(state=state)
        try:
            wait_for(lambda: all(d.state is State.PUBLISHED for d in ledger.select())
                     and len(ledger.select()) == posts * 2, timeout=settle, every=0.1)
        except AssertionError:
            pass  # reported below as losses
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        _compare(ledger, server, report)
        ledger.close()
    report.unknown_resolved = sum(
        1 for line in (state / "events.jsonl").read_text().splitlines() if '"reconciled"' in line)
    report.seconds = time.monotonic() - began
    return report


def _compare(ledger: Ledger, server: FakeServer, report: CrashReport) -> None:
    on_server = Counter(p.key for p in server.platform.posts)
    by_key = {p.key: p for p in server.platform.posts}
    expected: set[str] = set()
    for delivery in ledger.select():
        report.deliveries += 1
        number = int(delivery.post_id.removeprefix("posts/p").removesuffix(".yaml"))
        parts = 3 if number % 3 == 0 else 1
        recorded = {p.part: p.remote_id for p in ledger.parts(delivery.id)}
        for part in range(parts):
            key = idempotency_key(delivery.id, part)
            expected.add(key)
            report.parts += 1
            if on_server[key] == 0:
                report.losses.append(key)
            elif on_server[key] > 1:
                report.duplicates.append(key)
            if delivery.state is not State.PUBLISHED or recorded.get(part) != (
                    by_key[key].id if key in by_key else None):
                report.ledger_mismatches.append(f"{key}: {delivery.state.value}")
    report.strays = sorted(set(on_server) - expected)
