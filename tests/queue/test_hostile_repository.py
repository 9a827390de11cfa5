"""One hostile content repository, every command: each hostile thing one clear line, the good
posts still go out, and no command hangs, crashes or lets a control character reach the terminal.

The repository holds what git allows and no editor makes: a named pipe (FIFO) where a post
should be, file names that are not UTF-8 or hold a newline or escape sequences, a file of
megabytes, a symlink out of the repository, a shell script named .jpg and a FIFO named .png.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from klapper.cli import app
from klapper.ledger import read_events
from klapper.queue import LoadCache, load_repository
from tests.queue.repo_helpers import png_bytes
from tests.scheduler.procs import wait_for

pytestmark = pytest.mark.timeout(60)  # a FIFO read would block for ever: fail instead

CONFIG = """\
timezone: UTC
accounts:
  a: {platform: outbox, path: out-a}
defaults:
  to: [a]
"""
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # what a terminal must never get
LATIN1 = b"posts/caf\xe9.yaml"  # a name that is not UTF-8
NEWLINE = "posts/evil\nWATCHDOG=trigger.yaml"
ESCAPE = "posts/\x1b[31mred.yaml"
TITLE = "posts/later\x1b]0;pwned\x07.yaml"  # sets the terminal's title; due tomorrow
GOOD_TEXTS = {"Good post", "Good image", "Latin-1 name", "Newline name", "Escape name"}


def _post(text: str, at: datetime, media: str | None = None) -> bytes:
    lines = [f"text: {text}", f"at: {at:%Y-%m-%dT%H:%M:%SZ}"]
    if media:
        lines.append(f"media: [{{file: ../media/{media}, alt: A picture}}]")
    return ("\n".join(lines) + "\n").encode()


def hostile_repository(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "posts").mkdir(parents=True)
    (root / "media").mkdir()
    (root / "klapper.yaml").write_text(CONFIG)
    now = datetime.now(UTC).replace(microsecond=0)
    due, later = now - timedelta(minutes=5), now + timedelta(days=1)
    files = {
        b"posts/good.yaml": _post("Good post", due),
        b"posts/image.yaml": _post("Good image", due, "photo.png"),
        LATIN1: _post("Latin-1 name", due),
        os.fsencode(NEWLINE): _post("Newline name", due),
        os.fsencode(ESCAPE): _post("Escape name", due),
        os.fsencode(TITLE): _post("Later", later),
        b"posts/fake-image.yaml": _post("Fake image", due, "script.jpg"),
        b"posts/pipe-image.yaml": _post("Pipe image", due, "pipe.png"),
        b"media/photo.png": png_bytes(),
        b"media/script.jpg": b"#!/bin/sh\necho pwned\n",
    }
    for name, content in files.items():
        with open(os.fsencode(root) + b"/" + name, "wb") as handle:
            handle.write(content)
    os.mkfifo(root / "posts" / "fifo.yaml")
    os.mkfifo(root / "media" / "pipe.png")
    with open(root / "posts" / "huge.yaml", "wb") as handle:
        handle.truncate(2 * 1024 * 1024)  # 2 MB (sparse): refused by its size, never read
    secret = tmp_path / "secret.yaml"
    secret.write_text(_post("Secret from outside", due).decode())
    os.symlink(secret, root / "posts" / "outside.yaml")
    return root


# What `klapper check` says about each hostile thing: (file, severity, words of its message).
EXPECTED = [
    ("posts/caf\\xe9.yaml", "warning", "klapper shows it (and its post ids) as posts/caf\\xe9"),
    ("posts/evil\\nWATCHDOG=trigger.yaml", "warning", "bytes that are not UTF-8 or control"),
    ("posts/\\x1b[31mred.yaml", "warning", "bytes that are not UTF-8 or control"),
    ("posts/later\\x1b]0;pwned\\x07.yaml", "warning", "bytes that are not UTF-8 or control"),
    ("posts/fifo.yaml", "warning", "this is a named pipe (FIFO), not a regular file"),
    (
        "posts/huge.yaml",
        "error",
        ("file is 2,097,152 bytes; klapper reads files of at most 1,048,576 bytes"),
    ),
    ("posts/outside.yaml", "error", "symlink to a file outside the content repository"),
    (
        "posts/fake-image.yaml",
        "error",
        ("../media/script.jpg is not an image: its content is not PNG, JPEG, GIF or WebP"),
    ),
    (
        "posts/pipe-image.yaml",
        "error",
        ("cannot read media file '../media/pipe.png': this is a named pipe (FIFO)"),
    ),
]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return hostile_repository(tmp_path)


def klapper(repo: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, [*args, "--repo", str(repo), "--state", str(repo.parent / "state")]
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output  # stdout and stderr


def stdout(repo: Path, *args: str) -> str:
    result = CliRunner().invoke(
        app, [*args, "--repo", str(repo), "--state", str(repo.parent / "state")]
    )
    return result.stdout


def assert_terminal_safe(output: str) -> None:
    assert not RAW_CONTROL.search(output), repr(RAW_CONTROL.search(output))
    assert "WATCHDOG=trigger" not in output.replace("evil\\nWATCHDOG=trigger", "")


def test_check_gives_each_hostile_thing_one_clear_line(repo: Path) -> None:
    found = [
        (p["file"], p["severity"], p["message"])
        for p in json.loads(stdout(repo, "check", "--format", "json"))
        if "in the past" not in p["message"]
    ]  # every due post is in the past: not hostile
    for file, severity, words in EXPECTED:
        lines = [f for f in found if f[0] == file]
        assert len(lines) == 1 and lines[0][1] == severity and words in lines[0][2], (file, lines)
    assert len(found) == len(EXPECTED), found

    code, text = klapper(repo, "check")
    assert code == 1
    assert_terminal_safe(text)
    for file, _severity, words in EXPECTED:
        assert file in text and words in text
    assert "8 valid posts" in text  # the held two are valid posts, their images not


def test_check_github_annotations_are_escaped_too(repo: Path) -> None:
    code, output = klapper(repo, "check", "--format", "github")
    assert code == 1
    assert_terminal_safe(output)
    assert "posts/evil\\nWATCHDOG=trigger.yaml" in output


def test_plan_shows_escaped_names(repo: Path) -> None:
    assert [row["post"] for row in json.loads(stdout(repo, "plan", "--format", "json"))] == [
        "posts/later\\x1b]0;pwned\\x07.yaml"
    ]
    code, output = klapper(repo, "plan")
    assert code == 0
    assert_terminal_safe(output)
    assert "posts/later\\x1b]0;pwned\\x07.yaml" in output
    assert "2 errors in the repository" in output
    assert "4 errors" not in output


def outbox_texts(repo: Path) -> set[str]:
    return {
        json.loads(p.read_text())["text"]
        for p in (repo / "out-a").glob("*.json")
        if not p.name.startswith(".")
    }  # the outbox's own temporary files


def test_publish_due_sends_the_good_posts_and_holds_the_bad(repo: Path) -> None:
    code, output = klapper(repo, "publish", "--due")
    assert code == 1, output  # two posts are held: their images are no images
    assert_terminal_safe(output)
    assert outbox_texts(repo) == GOOD_TEXTS
    assert "held      posts/fake-image.yaml -> a" in output
    assert "held      posts/pipe-image.yaml -> a" in output
    assert "published posts/caf\\xe9.yaml -> a" in output
    assert "published posts/evil\\nWATCHDOG=trigger.yaml -> a" in output
    assert "2 held, 5 published" in output
    events = read_events(repo.parent / "state" / "events.jsonl")
    assert {e["post"] for e in events if e["event"] == "published"} == {
        "posts/good.yaml",
        "posts/image.yaml",
        "posts/caf\\xe9.yaml",
        "posts/evil\\nWATCHDOG=trigger.yaml",
        "posts/\\x1b[31mred.yaml",
    }
    # Ids are stable: a second run finds everything done and sends nothing again.
    code, output = klapper(repo, "publish", "--due")
    assert "published" not in output and outbox_texts(repo) == GOOD_TEXTS

    code, output = klapper(repo, "status")
    assert code == 0, output
    assert_terminal_safe(output)
    assert "posts/caf\\xe9.yaml" in output and "posts/\\x1b[31mred.yaml" in output
    assert "held, fix the post: ../media/script.jpg is not an image" in output
    code, output = klapper(repo, "status", "--format", "json")
    assert code == 0 and "\\udce9" not in output


def test_a_fifo_appearing_under_a_watched_rescan_does_not_block(repo: Path) -> None:
    cache = LoadCache(watched=True)
    load_repository(repo, cache=cache)
    late = repo / "posts" / "late.yaml"
    os.mkfifo(late)
    cache.changed([late])
    loaded = run_with_timeout(lambda: load_repository(repo, cache=cache))
    assert [p.message for p in loaded.problems if p.source.file == "posts/late.yaml"] == [
        "this is a named pipe (FIFO), not a regular file; klapper reads only regular files"
    ]


def test_a_symlink_out_appearing_under_a_watched_rescan_is_not_read(repo: Path) -> None:
    cache = LoadCache(watched=True)
    load_repository(repo, cache=cache)
    late = repo / "posts" / "late-link.yaml"
    os.symlink(repo.parent / "secret.yaml", late)
    cache.changed([late])
    loaded = load_repository(repo, cache=cache)
    assert "Secret from outside" not in {p.text for p in loaded.posts}
    assert any(
        p.source.file == "posts/late-link.yaml" and "outside" in p.message for p in loaded.problems
    )


def run_with_timeout(call: Callable[[], object], timeout: float = 10.0) -> object:
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    thread.join(timeout)
    assert result, "blocked"
    return result[0]


def test_the_daemon_publishes_the_good_posts_and_stops_on_sigterm(repo: Path) -> None:
    state = repo.parent / "state"
    log = (repo.parent / "daemon.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from klapper.cli import main; main()",
            "run",
            "--repo",
            str(repo),
            "--state",
            str(state),
        ],
        stdout=log,
        stderr=log,
    )
    try:
        wait_for(lambda: (repo / "out-a").is_dir() and outbox_texts(repo) == GOOD_TEXTS, timeout=20)
        # A FIFO appearing while it runs (file events, a watched rescan) does not wedge it:
        os.mkfifo(repo / "posts" / "late-fifo.yaml")
        (repo / "posts" / "after.yaml").write_bytes(
            _post("After the FIFO", datetime.now(UTC) - timedelta(seconds=1))
        )
        wait_for(lambda: "After the FIFO" in outbox_texts(repo), timeout=20)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()
        log.close()
    text = (repo.parent / "daemon.log").read_text(errors="replace")
    assert "Traceback" not in text
    assert_terminal_safe(text)
    assert outbox_texts(repo) == GOOD_TEXTS | {"After the FIFO"}


def test_a_media_name_with_a_newline_is_one_line_in_check_and_status(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "posts").mkdir(parents=True)
    (root / "klapper.yaml").write_text(CONFIG)
    due = datetime.now(UTC) - timedelta(minutes=5)
    (root / "posts" / "x\nFAKE\x1b[2J.jpg").write_text("#!/bin/sh\n")  # no image either
    (root / "posts" / "a.yaml").write_text(
        f'text: hi\nat: {due:%Y-%m-%dT%H:%M:%SZ}\nmedia: [{{file: "x\\nFAKE\\e[2J.jpg", alt: a}}]\n'
    )
    code, output = klapper(root, "check")
    assert code == 1
    assert_terminal_safe(output)
    assert "x\\nFAKE\\x1b[2J.jpg is not an image" in output
    code, output = klapper(root, "status")
    assert_terminal_safe(output)
    assert "held, fix the post: x\\nFAKE\\x1b[2J.jpg is not an image" in output
