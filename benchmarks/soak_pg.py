"""Shared-ledger soak: daemons on one PostgreSQL ledger, 3,000 deliveries due within 60 s, kills.

Run: .venv/bin/python benchmarks/soak_pg.py [--deliveries 3000] [--window 60] [--kills 6]
         [--lead 45] [--lease 5] [--seed 1]

Starts a throwaway PostgreSQL 15 cluster on 127.0.0.1 (tests/fakes/postgres.py) and the generic
fake platform (tests/fakes/generic.py: counts every post, no idempotency) and runs the drill of
tests/scheduler/soak.py three times: 1 daemon, 3 daemons, 3 daemons with random SIGKILLs (each
killed daemon restarted at once). Prints duplicates and losses (both must be 0), throughput and
lateness p50/p99 side by side. Figures only: it never fails.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.postgres import start_cluster
from tests.scheduler.postgres import fresh_schema
from tests.scheduler.soak import SoakReport, soak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=3000)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--lead", type=float, default=45.0, help="seconds until the first is due")
    parser.add_argument("--lease", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    runs = [
        ("1 daemon", 1, 0),
        ("3 daemons", 3, 0),
        (f"3 daemons, {args.kills} kills", 3, args.kills),
    ]
    folder = Path(tempfile.mkdtemp(prefix="klapper-soak-"))
    pg_folder = Path(tempfile.mkdtemp(prefix="klapper-soak-pg-"))  # the server's own user owns it
    cluster = start_cluster(pg_folder, max_connections=150)
    reports: list[tuple[str, SoakReport]] = []
    try:
        for label, daemons, kills in runs:
            work = folder / label.replace(" ", "-").replace(",", "")
            work.mkdir()
            with fresh_schema(cluster, test=label) as schema:
                report = soak(
                    work,
                    url=schema.url,
                    deliveries=args.deliveries,
                    daemons=daemons,
                    window=args.window,
                    kills=kills,
                    lead=args.lead,
                    lease=args.lease,
                    seed=args.seed,
                )
            reports.append((label, report))
            print(f"{label}: done", file=sys.stderr)
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(pg_folder, ignore_errors=True)
    print(
        f"{args.deliveries} deliveries to 10 accounts due within {args.window:.0f} s;"
        f" lease {args.lease:.0f} s; platform answers after 20 ms"
    )
    print("| run | duplicates | losses | throughput (posts/s) | lateness p50 | p99 | max |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, r in reports:
        print(
            f"| {label} | {len(r.duplicates)} | {len(r.losses)} | {r.throughput:.1f} |"
            f" {r.lateness_p50:.2f} s | {r.lateness_p99:.2f} s | {r.lateness_max:.2f} s |"
        )
    for label, r in reports:
        if not r.ready_before_due:
            print(f"note: in '{label}' a daemon was not up before the first due time (--lead)")
        if r.not_published:
            print(f"note: in '{label}' {r.not_published} were not published at the end")


if __name__ == "__main__":
    main()
