"""State faults: a damaged ledger, a read-only state folder, a full disk, a full event log
device: one line naming the file and what to do, exit 1, nothing published (9.11); and an
event log rotated or deleted under a running process (9.12)."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from klapper.cli import app
from klapper.ledger import EventLog, read_events
from klapper.ledger.store import LEDGER_FILE
from tests.scheduler.repo import TempRepo

runner = CliRunner()


@pytest.fixture
def repo(tmp_path: Path) -> TempRepo:
    r = TempRepo(tmp_path / "repo")
    r.configure(accounts=("a",))
    r.write("hello", text="Hello", at=datetime.now(UTC) - timedelta(minutes=1))
    return r


def publish(repo: TempRepo, state: Path) -> tuple[int, str]:
    result = runner.invoke(
        app, ["publish", "--due", "--repo", str(repo.root), "--state", str(state)]
    )
    return result.exit_code, result.output


def assert_refused(code: int, output: str, *, file: Path, words: str, repo: TempRepo) -> None:
    assert code == 1, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {file}"), output
    assert words in lines[0]
    assert not (repo.root / "out-a").exists() or not list((repo.root / "out-a").iterdir())


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (needs root; skipped otherwise)."""
    mount = tmp_path / "fs"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(folder: Path) -> None:
    with open(folder / "filler", "wb") as filler:
        try:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_a_damaged_ledger_is_reported_and_left_as_it_is(repo: TempRepo, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    damaged = b"this is not a database, it was overwritten by mistake\n" * 100
    (state / LEDGER_FILE).write_bytes(damaged)
    code, output = publish(repo, state)
    assert_refused(code, output, file=state / LEDGER_FILE, words="damaged", repo=repo)
    assert "klapper ledger rebuild" in output
    assert (state / LEDGER_FILE).read_bytes() == damaged  # never replaced silently


def test_a_read_only_state_folder(repo: TempRepo, tiny_fs: Path) -> None:
    state = tiny_fs / "state"
    state.mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs)], check=True)
    code, output = publish(repo, state)
    assert_refused(code, output, file=state / LEDGER_FILE, words="cannot be written", repo=repo)


def test_a_full_disk_under_the_state_folder(repo: TempRepo, tiny_fs: Path) -> None:
    state = tiny_fs / "state"
    fill(tiny_fs)
    code, output = publish(repo, state)
    assert code == 1 and "no space left" in output, output
    assert str(tiny_fs) in output and "Traceback" not in output
    assert not (repo.root / "out-a").exists()


def test_an_event_log_on_a_full_device(repo: TempRepo, tmp_path: Path, tiny_fs: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "events.jsonl").symlink_to(tiny_fs / "events.jsonl")
    fill(tiny_fs)
    code, output = publish(repo, state)
    assert_refused(code, output, file=state / "events.jsonl", words="no space left", repo=repo)


def test_an_event_log_that_cannot_be_written_stops_the_command(
    repo: TempRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC on the write itself (a device that fills up meanwhile, or /dev/full)."""
    state = tmp_path / "state"
    (state).mkdir()
    (state / "events.jsonl").symlink_to("/dev/full")
    code, output = publish(repo, state)
    assert_refused(code, output, file=state / "events.jsonl", words="not a regular file", repo=repo)
    (state / "events.jsonl").unlink()

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    log = EventLog(state / "events.jsonl")
    monkeypatch.setattr("klapper.ledger.events.os.write", full)
    with pytest.raises(Exception, match=f"{state / 'events.jsonl'}: no space left"):
        log.emit("published")
    log.close()


def test_the_event_log_is_reopened_when_rotated_or_deleted(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    log.emit("missed", reason="one")
    path.rename(tmp_path / "events.jsonl.1")  # logrotate's default (create)
    log.emit("missed", reason="two")
    path.unlink()
    log.emit("missed", reason="three")
    log.close()
    assert [e["reason"] for e in read_events(tmp_path / "events.jsonl.1")] == ["one"]
    assert [e["reason"] for e in read_events(path)] == ["three"]
