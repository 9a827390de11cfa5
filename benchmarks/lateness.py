"""Lateness: N deliveries due over one minute to the outbox; how late does each go out?

Run: .venv/bin/python benchmarks/lateness.py [--deliveries 1000] [--over 60]

Starts the real daemon (`klapper run`) on a generated repository, waits until every outbox
file exists, and prints p50, p99 and max of (published_at - due) from the outbox files.
Figures only: it never fails on speed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from daemon_util import Daemon, write_repo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--over", type=float, default=60.0, help="seconds the dues spread over")
    parser.add_argument("--lead", type=float, default=20.0, help="seconds before the first due")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        first = datetime.now(UTC) + timedelta(seconds=args.lead)
        step = args.over / max(args.deliveries - 1, 1)
        dues = [first + timedelta(seconds=step * n) for n in range(args.deliveries)]
        write_repo(root / "repo", dues)
        daemon = Daemon(repo=root / "repo", state=root / "state")
        ready = daemon.wait_ready()
        outbox = root / "repo" / "outbox"
        deadline = time.monotonic() + args.lead + args.over + 60
        while time.monotonic() < deadline:
            if outbox.is_dir() and sum(1 for _ in outbox.glob("*.json")) >= args.deliveries:
                break
            time.sleep(0.5)
        cpu = daemon.cpu_seconds()
        code = daemon.stop()
        late = []
        for path in outbox.glob("*.json"):
            data = json.loads(path.read_text())
            late.append(
                (
                    datetime.fromisoformat(data["published_at"])
                    - datetime.fromisoformat(data["due"])
                ).total_seconds()
                * 1000
            )
    late.sort()
    print(f"deliveries: {len(late)} of {args.deliveries}, due over {args.over:.0f} s")
    print(f"daemon ready after {ready:.2f} s; exit code {code}; CPU {cpu:.2f} s in total")
    if late:
        p99 = late[min(len(late) - 1, int(len(late) * 0.99))]
        print(
            f"lateness ms: p50 {statistics.median(late):.1f}  p99 {p99:.1f}  "
            f"max {late[-1]:.1f}  min {late[0]:.1f}"
        )


if __name__ == "__main__":
    main()
