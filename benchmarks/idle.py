"""Idle: the daemon with N future deliveries; CPU seconds and resident memory over a quiet spell.

Run: .venv/bin/python benchmarks/idle.py [--deliveries 10000] [--seconds 60]

Starts the real daemon (`klapper run`) on a generated repository whose posts are all due in
the coming weeks, waits for READY, then measures CPU time (user + system, from /proc) and
resident memory over --seconds while nothing is due. Figures only: it never fails on speed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from daemon_util import Daemon, write_repo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        first = datetime.now(UTC) + timedelta(hours=1)
        # Spread over four weeks, within the planning horizon, none due during the run.
        step = timedelta(weeks=4) / args.deliveries
        write_repo(root / "repo", [first + step * n for n in range(args.deliveries)])
        daemon = Daemon(repo=root / "repo", state=root / "state")
        ready = daemon.wait_ready()
        cpu_ready, rss_ready = daemon.cpu_seconds(), daemon.rss_mb()
        time.sleep(2)  # let start-up work (first checkpoint, GC) settle before measuring
        cpu_before = daemon.cpu_seconds()
        time.sleep(args.seconds)
        used = daemon.cpu_seconds() - cpu_before
        rss = daemon.rss_mb()
        code = daemon.stop()
    print(
        f"deliveries armed: {args.deliveries}; ready after {ready:.1f} s "
        f"(start-up CPU {cpu_ready:.1f} s, RSS {rss_ready:.0f} MB)"
    )
    print(
        f"idle over {args.seconds:.0f} s: CPU {used:.3f} s = {100 * used / args.seconds:.3f}%"
        f"; RSS {rss:.0f} MB; exit code {code}"
    )


if __name__ == "__main__":
    main()
