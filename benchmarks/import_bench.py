"""`klapper import csv` on a generated Hootsuite file: rows imported per second, then again.

    .venv/bin/python benchmarks/import_bench.py [--rows 10000]

The second run finds every row imported before and writes nothing; it measures the cost of
loading a repository that now holds every imported post.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from klapper.intake import import_csv
from tests.queue.repo_helpers import make_repo


def _file(rows: int) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    start = datetime(2031, 1, 6, 8, 0)
    for n in range(rows):
        when = start + timedelta(minutes=10 * n)
        writer.writerow(
            [
                f"{when:%m/%d/%Y %H:%M}",
                f'Post {n}: our workshop "Advent" 🎄, day {n % 24}\nsee you there',
                f"https://example.com/{n}" if n % 2 else "",
            ]
        )
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    rows = parser.parse_args().rows
    with tempfile.TemporaryDirectory() as folder:
        repo = make_repo(Path(folder) / "repo", {})
        source = Path(folder) / "hootsuite.csv"
        source.write_text(_file(rows))
        for label in ("first import", "same file again"):
            began = time.perf_counter()
            result = import_csv(
                repo=repo, csv_file=source, fmt="hootsuite", now=datetime(2030, 1, 1, tzinfo=UTC)
            )
            took = time.perf_counter() - began
            print(
                f"{label}: {rows:,} rows in {took:.2f} s ({rows / took:,.0f} rows/s); "
                f"{len(result.written)} written, {len(result.skipped)} imported before, "
                f"{len(result.refused)} refused"
            )


if __name__ == "__main__":
    main()
