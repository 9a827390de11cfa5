"""A content repository with what a preview must show: overrides, tags, threads, images, faults."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

from tests.queue.repo_helpers import make_repo

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """\
timezone: Europe/Berlin
accounts:
  outbox: {platform: outbox, path: outbox}
  masto: {platform: mastodon, instance: "https://masto.example"}
  bsky: {platform: bluesky}
  x: {platform: x}
  ig: {platform: instagram, user: "1784", media_url: "https://example.com/m"}
defaults:
  to: [outbox]
links:
  utm: {source: "{platform}", medium: social}
slots:
  mon: ["09:00"]
"""
SCRIPT = (
    '<script>document.body.setAttribute("data-pwned", "1")</script>'
    '<img src=x onerror="document.body.dataset.pwned = 2"> & more'
)
LONG = (
    "Spoon carving, step by step: " + "a slow morning with green wood and a sharp knife. " * 6
).strip()


def _at(day: date, clock: str) -> str:
    return f"{day.isoformat()} {clock}"


def make_sample(root: Path, *, day: date) -> Path:
    """The repository; posts from ``day`` + 1 (local) on, one beyond two weeks, one draft."""
    posts = {
        "posts/advent.yaml": (
            "text: |\n  Our advent sale starts today: 20% off all workshops.\n"
            "  https://werkbank.de/advent\n"
            f"at: {_at(day + timedelta(days=1), '09:00')}\n"
            "to: [masto, bsky, x]\n"
            "media:\n  - file: ../media/candles.png\n"
            "    alt: Four white candles above a wooden workbench.\n"
            "thread:\n  - Dovetails on Tuesday, sharpening on Thursday.\n"
            "  - text: Gift vouchers never expire.\n"
            "    media: [{file: ../media/chart.png}]\n"
            "per:\n  x: {text: 'Advent sale: 20% off https://werkbank.de/advent'}\n"
            "  masto: {cw: Sale, visibility: unlisted}\n"
        ),
        "posts/long.yaml": (
            f"text: {LONG!r}\nat: {_at(day + timedelta(days=2), '10:00')}\nto: [x, bsky]\n"
        ),
        "posts/script.yaml": (f"text: {SCRIPT!r}\nat: {_at(day + timedelta(days=3), '12:00')}\n"),
        "posts/insta.yaml": (
            "text: New benches in the workshop.\n"
            f"at: {_at(day + timedelta(days=4), '18:00')}\nto: [ig]\n"
            "media: [{file: ../media/candles.png, alt: Two oak benches.}]\n"
            "first_comment: '#holz #werkbank'\n"
        ),
        "posts/later.yaml": (f"text: Far ahead\nat: {_at(day + timedelta(days=40), '09:00')}\n"),
        "posts/draft.yaml": "text: Not yet\ndraft: true\n",
    }
    repo = make_repo(root, posts, config=CONFIG)
    (repo / "media").mkdir(exist_ok=True)
    shutil.copy(ROOT / "examples/media/advent-candles.png", repo / "media/candles.png")
    shutil.copy(ROOT / "examples/media/keyboard.png", repo / "media/chart.png")
    return repo
