"""The crash drill: the daemon publishes a batch while being SIGKILLed and restarted, again and
again (optionally losing its ledger each time); then every part must exist exactly once on the
fake platform and the ledger must agree.

Used by tests/scheduler/test_crash.py (short) and benchmarks/crash_soak.py (long).
"""

from __future__ import annotations

import contextlib
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from klapper.ledger import Ledger, State, idempotency_key, read_events
from klapper.ledger.store import LEDGER_FILE
from tests.fakes.generic import FakeServer, token_for
from tests.fakes.mastodon import FakeMastodon
from tests.scheduler.procs import start, wait_for
from tests.scheduler.repo import TempRepo


@dataclass
class CrashReport:
    kills: int = 0
    deliveries: int = 0
    parts: int = 0
    duplicates: list[str] = field(default_factory=list)  # keys seen more than once
    losses: list[str] = field(default_factory=list)  # keys never seen
    strays: list[str] = field(default_factory=list)  # posts with no key klapper knows
    ledger_mismatches: list[str] = field(default_factory=list)
    unknown_resolved: int = 0  # looked for with `find` (reconciled events)
    found_by_find: int = 0  # ... and found there (so not posted again)
    ledgers_deleted: int = 0
    rebuilds: int = 0  # times a daemon found the ledger empty and replayed the event log
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return not (self.duplicates or self.losses or self.strays or self.ledger_mismatches)


def write_batch(
    repo: TempRepo, *, posts: int, spread: float, rng: random.Random, to: list[str]
) -> None:
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
        repo.write(
            f"p{number:04d}",
            text=f"Post {number}",
            at=due,
            to=to,
            **({"thread": thread} if thread else {}),
        )


def drill(
    folder: Path,
    *,
    posts: int = 30,
    kills: int = 10,
    seed: int = 1,
    spread: float = 1.0,
    kill_after: tuple[float, float] = (0.0, 0.2),
    server_delay: float = 0.05,
    settle: float = 60.0,
    platform: str = "generic",
    delete_ledger: bool = False,
) -> CrashReport:
    """Run the drill in ``folder``; returns what it found (never raises on a bad outcome).

    ``platform``: "generic" (two accounts on tests/fakes/generic.py, which keeps no keys) or
    "mastodon" (one account through klapper's Mastodon adapter on a fake GoToSocial, which
    ignores Idempotency-Key). ``delete_ledger``: the ledger file is deleted after every kill.
    """
    rng = random.Random(seed)
    report = CrashReport()
    began = time.monotonic()
    accounts = ("a",) if platform == "mastodon" else ("a", "b")
    repo = TempRepo(folder / "repo")
    repo.configure(accounts=accounts)
    state = folder / "state"
    with _Server(platform, delay=server_delay) as server:
        write_batch(repo, posts=posts, spread=spread, rng=rng, to=list(accounts))
        for _ in range(kills):
            seen = server.requests()
            proc = start(
                "daemon",
                repo=repo.root,
                state=state,
                api=server.url,
                refresh=0.5,
                platform=platform,
            )
            # Kill it while it talks to the platform: that is where it hurts. With nothing left
            # to publish, kill it anyway.
            with contextlib.suppress(AssertionError):
                wait_for(lambda before=seen: server.requests() > before, timeout=10, every=0.005)
            time.sleep(rng.uniform(*kill_after))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            report.kills += 1
            if delete_ledger:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{state / LEDGER_FILE}{suffix}").unlink(missing_ok=True)
                report.ledgers_deleted += 1
        proc = start(
            "daemon", repo=repo.root, state=state, api=server.url, refresh=0.5, platform=platform
        )
        ledger = Ledger.open(state=state)
        try:
            wait_for(
                lambda: (
                    all(d.state is State.PUBLISHED for d in ledger.deliveries())
                    and len(ledger.deliveries()) == posts * len(accounts)
                ),
                timeout=settle,
                every=0.1,
            )
        except AssertionError:
            pass  # reported below as losses
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        _compare(ledger, server, report)
        ledger.close()
    for event in read_events(state / "events.jsonl"):
        if event["event"] == "reconciled":
            report.unknown_resolved += 1
            report.found_by_find += bool(event.get("found"))
    report.rebuilds = (state / "daemon.log").read_text().count("was empty: rebuilt")
    report.seconds = time.monotonic() - began
    return report


class _Server:
    """The fake platform of a drill: the generic one, or a fake GoToSocial (keys ignored)."""

    def __init__(self, platform: str, *, delay: float) -> None:
        self.generic: FakeServer | None = None
        self.mastodon: FakeMastodon | None = None
        if platform == "mastodon":
            self.mastodon = FakeMastodon(
                flavor="gotosocial", remaining=10**9, media_polls=0, post_delay=delay
            )
            self.url = self.mastodon.url
        else:
            self.generic = FakeServer()
            self.generic.platform.delay = delay
            for account in ("a", "b"):
                self.generic.platform.tokens[token_for(account)] = account

    def requests(self) -> int:
        if self.mastodon is not None:
            return len(self.mastodon.state.requests)
        assert self.generic is not None
        return len(self.generic.platform.requests)

    def __enter__(self) -> _Server:
        if self.generic is not None:
            self.generic.__enter__()
            self.url = self.generic.url
        else:
            assert self.mastodon is not None
            self.mastodon.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        (self.generic or self.mastodon).__exit__(*exc)  # type: ignore[union-attr]


def _compare(ledger: Ledger, server: _Server, report: CrashReport) -> None:
    """Each part must be on the server once, where the ledger says. A part is known by its
    idempotency key on the generic server, by its text (all differ) on one that drops keys."""
    if server.mastodon is not None:
        sources = server.mastodon.state.sources
        found = [(text, status_id) for status_id, text in sources.items()]
    else:
        assert server.generic is not None
        found = [(p.key, p.id) for p in server.generic.platform.posts]
    on_server = Counter(name for name, _ in found)
    remote = dict(found)
    expected: set[str] = set()
    for delivery in ledger.deliveries():
        report.deliveries += 1
        number = int(delivery.post_id.removeprefix("posts/p").removesuffix(".yaml"))
        texts = [f"Post {number}"] + (
            [f"Post {number}, part {k}" for k in (2, 3)] if number % 3 == 0 else []
        )
        recorded = {p.part: p.remote_id for p in ledger.parts(delivery.id)}
        for part, text in enumerate(texts):
            name = text if server.mastodon is not None else idempotency_key(delivery.id, part)
            expected.add(name)
            report.parts += 1
            if on_server[name] == 0:
                report.losses.append(name)
            elif on_server[name] > 1:
                report.duplicates.append(name)
            if delivery.state is not State.PUBLISHED or recorded.get(part) != remote.get(name):
                report.ledger_mismatches.append(f"{name}: {delivery.state.value}")
    report.strays = sorted(set(on_server) - expected)
