"""`klapper import csv` on a generated Hootsuite file: rows imported per second, then again.

    .venv/bin/python benchmarks/import_bench.py [--rows 10000] [--git-branch]

The second run finds every row imported before and writes nothing; it measures the cost of
loading a repository that now holds every imported post. ``--git-branch`` makes the repository
a git repository and imports onto a branch (checkout into a temporary folder, then a commit),
as `klapper import csv --git-branch` does.
"""

from __future__ import annotations

import argparse
import csv
import io
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from klapper.intake import import_csv
from klapper.intake.gitbranch import import_target
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
    parser.add_argument("--git-branch", action="store_true", help="import onto a branch")
    options = parser.parse_args()
    rows = options.rows
    branch = "import" if options.git_branch else None
    with tempfile.TemporaryDirectory() as folder:
        repo = make_repo(Path(folder) / "repo", {})
        if branch:
            for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "start"]):
                subprocess.run(
                    ["git", "-c", "user.name=b", "-c", "user.email=b@e", *args],
                    cwd=repo,
                    check=True,
                )
        source = Path(folder) / "hootsuite.csv"
        source.write_text(_file(rows))
        for label in ("first import", "same file again"):
            began = time.perf_counter()
            with import_target(repo=repo, branch=branch) as target:
                result = import_csv(
                    repo=target.root,
                    csv_file=source,
                    fmt="hootsuite",
                    now=datetime(2030, 1, 1, tzinfo=UTC),
                )
                target.commit(message="benchmark")
            took = time.perf_counter() - began
            print(
                f"{label}: {rows:,} rows in {took:.2f} s ({rows / took:,.0f} rows/s); "
                f"{len(result.written)} written, {len(result.skipped)} imported before, "
                f"{len(result.refused)} refused"
            )


if __name__ == "__main__":
    main()
