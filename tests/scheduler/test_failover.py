"""Two daemons (real processes) on one PostgreSQL ledger: one is SIGKILLed while publishing.

The other takes over the dead one's claims once their lease runs out, looks on the platform
first (``find``), and publishes the rest: every post exactly once on the fake platform, which
does not deduplicate (tests/fakes/generic.py), and none lost.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from klapper.ledger import Ledger, State
from tests.fakes.generic import FakeServer, token_for
from tests.scheduler.procs import NotifySocket, start, stop_all, wait_for
from tests.scheduler.repo import TempRepo

LEASE = 3.0  # seconds; publishing.lease in the test repository


def test_a_killed_daemons_deliveries_go_out_from_the_other_within_the_lease(
    tmp_path: Path, server: FakeServer, pg_url: str
) -> None:
    accounts = ("a", "b")
    repo = TempRepo(tmp_path / "repo")
    repo.configure(
        accounts=accounts,
        publishing={"backoff": "1s", "max_backoff": "2s", "timeout": "2s", "lease": f"{LEASE}s"},
    )
    for account in accounts:
        server.platform.tokens[token_for(account)] = account
    server.platform.delay = 0.4  # each post takes a while: the kill lands mid-request
    due = datetime.now(UTC) + timedelta(seconds=4)
    for number in range(12):
        repo.write(f"p{number:02d}", text=f"Post {number}", at=due, to=list(accounts))
    for name in ("n1", "n2"):
        (tmp_path / name).mkdir()
    notify = [NotifySocket(tmp_path / name) for name in ("n1", "n2")]
    one, two = (
        start(
            "daemon",
            repo=repo.root,
            state=tmp_path / name,
            api=server.url,
            ledger=pg_url,
            notify=sock,
        )
        for name, sock in zip(("one", "two"), notify, strict=True)
    )
    ledger = Ledger.open(state=tmp_path / "reader", url=pg_url)
    try:
        for sock in notify:
            wait_for(lambda sock=sock: sock.saw("READY", "1"), timeout=60)
        mine = f":{one.pid}:"
        # Kill one while it holds claims and a request of its is at the platform.
        held = wait_for(
            lambda: [d for d in ledger.claimed() if mine in (d.claim_owner or "")],
            timeout=30,
            every=0.01,
        )
        time.sleep(0.1)  # its request is inside the platform's delay now
        os.kill(one.pid, signal.SIGKILL)
        killed_at = datetime.now(UTC)
        one.wait()
        taken = {d.id for d in held}  # type: ignore[union-attr]
        wait_for(
            lambda: all(d.state is State.PUBLISHED for d in ledger.deliveries()),
            timeout=LEASE * 10,
        )
        rows = ledger.deliveries()
    finally:
        ledger.close()
        stop_all([one, two])
        for sock in notify:
            sock.close()
    assert len(rows) == 24
    keys = Counter(p.key for p in server.platform.posts)
    assert len(keys) == 24 and set(keys.values()) == {1}, keys  # none twice, none lost
    # The dead daemon's claims went out from the other within the lease and a refresh
    # (a third of the lease), plus the find and the post themselves.
    # (updated_at: when the ledger learnt it; published_at is the platform's own time)
    last = max(d.updated_at for d in rows if d.id in taken)
    failover = (last - killed_at).total_seconds()
    assert failover < LEASE + LEASE / 3 + 5, failover  # + 5: a busy machine's slowness
    log = (tmp_path / "two" / "daemon.log").read_text()
    assert "stopped during" in log  # released to unknown by the survivor, then looked for
    print(f"failover: {failover:.1f} s for {len(taken)} claims (lease {LEASE:.0f} s)")


def test_a_rate_limit_and_a_pause_hold_for_every_process(
    tmp_path: Path, server: FakeServer, pg_url: str
) -> None:
    repo = TempRepo(tmp_path / "repo")
    repo.configure(accounts=("a", "b"))
    for account in ("a", "b"):
        server.platform.tokens[token_for(account)] = account
    now = datetime.now(UTC) - timedelta(seconds=5)
    for number in range(3):
        repo.write(f"p{number}", text=f"Post {number}", at=now, to=["a", "b"])
    server.platform.fail_next("429", account="a", reset_in=600)
    server.platform.fail_next("401", account="b")

    def run(machine: str) -> None:
        start("due", repo=repo.root, state=tmp_path / machine, api=server.url, ledger=pg_url).wait(
            timeout=60
        )

    run("one")  # a: rate limited for 10 minutes; b: its token refused, the account paused
    tried = Counter(account for method, _, account in server.platform.requests if method == "POST")
    run("two")  # another machine, another state folder: the same ledger says wait
    again = Counter(account for method, _, account in server.platform.requests if method == "POST")
    assert tried == again == {"a": 1, "b": 1}
    ledger = Ledger.open(state=tmp_path / "reader", url=pg_url)
    accounts = ledger.accounts()
    ledger.close()
    assert accounts["a"].wait_until is not None and accounts["b"].paused_at is not None
