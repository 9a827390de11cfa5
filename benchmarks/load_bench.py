"""Loading benchmark: load + validate N post files vs. parsing them with PyYAML's C loader.

Run: .venv/bin/python benchmarks/load_bench.py [--files 10000] [--repeat 3]

Prints, for the same generated files (best of --repeat runs each):
- parse: read every file and yaml.load it with CSafeLoader (the floor);
- load: load_repository (cold, no cache); check: check_posts on the result;
- rescan after one file changed, for 1,000 and N files: with the default cache (stats every
  file) and with a watched cache (told which file changed, as the daemon does).
Figures only: it never fails on speed.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import yaml

from klapper.queue import LoadCache, check_posts, load_repository

CONFIG = """\
timezone: Europe/Berlin
accounts:
  outbox: {platform: outbox, path: outbox}
  masto: {platform: mastodon, instance: "https://masto.example"}
  x: {platform: x}
defaults: {to: [outbox, masto, x], lang: en}
slots: {mon: ["09:00"], wed: ["09:00"], fri: ["09:00"]}
"""
WORDS = [
    "workshop",
    "chisel",
    "plane",
    "oak",
    "walnut",
    "dovetail",
    "glue",
    "clamp",
    "saw",
    "spoon",
    "bowl",
    "grain",
]


def _post(rng: random.Random, number: int) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30)))
    lines = [f"text: |\n  Post {number}: {text}\n  https://example.com/{number}"]
    kind = number % 4
    if kind == 0:
        lines.append(
            f"at: 2027-{1 + number % 12:02d}-{1 + number % 28:02d} "
            f"{8 + number % 10:02d}:{number % 60:02d}"
        )
    elif kind == 1:
        lines.append(f"at: 2027-{1 + number % 12:02d}-{1 + number % 28:02d}T10:00:00+01:00")
    elif kind == 2 and number % 40 == 2:
        lines.append('every: "0 9 * * MON"\nstart: 2027-01-01 00:00\ncount: 4')
    if number % 10 == 3:
        lines.append("media:\n  - file: ../../media/a.png\n    alt: A workbench with tools")
    if number % 7 == 0:
        lines.append("per:\n  x: {text: short version}\n  masto: {visibility: unlisted}")
    if number % 9 == 0:
        lines.append("thread:\n  - A follow-up with more detail.\n  - And one more.")
    return "\n".join(lines) + "\n"


def make_repo(root: Path, files: int) -> list[Path]:
    (root / "posts").mkdir(parents=True)
    (root / "media").mkdir()
    (root / "media" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 200)
    (root / "klapper.yaml").write_text(CONFIG)
    rng = random.Random(7)
    paths = []
    for number in range(files):
        folder = root / "posts" / f"{number // 500:03d}"
        folder.mkdir(exist_ok=True)
        path = folder / f"post-{number:05d}.yaml"
        path.write_text(_post(rng, number))
        paths.append(path)
    # Folders as old as in any real repository: a folder changed in the last seconds is listed
    # again on every rescan (its mtime may not yet show a further change; see queue.files).
    old = time.time_ns() - 3600 * 10**9
    for folder in (root / "posts", *(root / "posts").iterdir()):
        os.utime(folder, ns=(old, old))
    return paths


def best_of(runs: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """The best time of each run; rounds interleave the runs so that a busy machine hurts
    them alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return {name: min(values) for name, values in times.items()}


def parse_only(paths: list[Path]) -> None:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for path in paths:
        with open(path, "rb") as handle:
            yaml.load(handle.read(), Loader=loader)


def rescan(root: Path, paths: list[Path], *, watched: bool, repeat: int) -> float:
    cache = LoadCache(watched=watched)
    load_repository(root, cache=cache)
    target = paths[len(paths) // 2]
    times = []
    for round_ in range(repeat):
        target.write_text(f"text: changed {round_}\n")
        stat = target.stat()
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000 * (round_ + 1)))
        if watched:
            cache.changed([target])
        started = time.perf_counter()
        repo = load_repository(root, cache=cache)
        times.append(time.perf_counter() - started)
        assert any(p.text == f"changed {round_}" for p in repo.posts)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    now = datetime(2026, 12, 1, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as folder:
        small_root, big_root = Path(folder, "small"), Path(folder, "big")
        small = make_repo(small_root, 1000)
        paths = make_repo(big_root, args.files)
        repo = load_repository(big_root)
        assert not repo.problems, repo.problems[:3]
        # The first run compiles the counting regexes, as in any process; the posts are valid.
        assert not check_posts(repo, now=now)
        best = best_of(
            {
                "parse": lambda: parse_only(paths),
                "load": lambda: load_repository(big_root),
                "check": lambda: check_posts(repo, now=now),
            },
            args.repeat,
        )
        parse, load, check = best["parse"], best["load"], best["check"]
        print(
            f"files: {args.files:,} ({len(repo.posts):,} posts), libyaml: "
            f"{yaml.__with_libyaml__}, best of {args.repeat}"
        )
        print(f"parse only (CSafeLoader):  {parse * 1000:8.0f} ms")
        print(f"load_repository:           {load * 1000:8.0f} ms   ratio {load / parse:.2f}")
        print(f"check_posts:               {check * 1000:8.0f} ms")
        print(
            f"load + check:              {(load + check) * 1000:8.0f} ms   "
            f"ratio {(load + check) / parse:.2f}"
        )
        for label, root, files in (
            ("1,000", small_root, small),
            (f"{args.files:,}", big_root, paths),
        ):
            full = rescan(root, files, watched=False, repeat=args.repeat)
            watched = rescan(root, files, watched=True, repeat=args.repeat)
            print(
                f"rescan, one file changed, {label:>6} files: {full * 1000:7.1f} ms "
                f"(stat walk)   {watched * 1000:6.1f} ms (watched)"
            )


if __name__ == "__main__":
    main()
