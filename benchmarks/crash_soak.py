"""Crash soak: the daemon publishes a batch while SIGKILLed at random moments, many times.

Run: .venv/bin/python benchmarks/crash_soak.py [--posts 200] [--kills 100] [--seed 1]
         [--platform generic|mastodon] [--delete-ledger]

``--platform mastodon`` publishes through klapper's Mastodon adapter to a fake GoToSocial that
ignores Idempotency-Key (one account; keep --posts at most ~150, as `find` reads back 200
statuses); ``--delete-ledger`` deletes the ledger after every kill, so the daemon starts on an
empty ledger each time and must rebuild it from the event log.

The long form of tests/scheduler/test_crash.py (same drill, tests/scheduler/crash.py): every kill
lands while the daemon talks to the fake platform; afterwards every part must exist exactly
once on the platform and the ledger must agree. Prints kills survived, duplicates, losses.
Figures only: it never fails.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.scheduler.crash import drill


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--platform", choices=["generic", "mastodon"], default="generic")
    parser.add_argument("--delete-ledger", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = drill(
            Path(tmp),
            posts=args.posts,
            kills=args.kills,
            seed=args.seed,
            settle=300.0,
            platform=args.platform,
            delete_ledger=args.delete_ledger,
        )
    accounts = 1 if args.platform == "mastodon" else 2
    print(
        f"{args.platform}: {args.posts} posts to {accounts} account(s) = {report.deliveries}"
        f" deliveries, {report.parts} parts (a third are 3-part threads)"
    )
    print(
        f"kills survived: {report.kills}; ledgers deleted: {report.ledgers_deleted}, rebuilt"
        f" from the event log: {report.rebuilds}; {report.seconds:.0f} s"
    )
    print(
        f"parts looked for with find: {report.unknown_resolved}, found there (not posted"
        f" again): {report.found_by_find}"
    )
    print(
        f"duplicates: {len(report.duplicates)}; losses: {len(report.losses)}; "
        f"strays: {len(report.strays)}; ledger disagreements: {len(report.ledger_mismatches)}"
    )
    for name in ("duplicates", "losses", "strays", "ledger_mismatches"):
        for item in getattr(report, name)[:10]:
            print(f"  {name}: {item}")


if __name__ == "__main__":
    main()
