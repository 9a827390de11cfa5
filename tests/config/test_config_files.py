"""klapper.yaml as a hostile repository may have it: a FIFO, 50 MB, a symlink out, a log path
pointing at ~/.bashrc. Each is one clear error; none blocks, reads a huge file or writes outside."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from klapper.config.load import ConfigError, load_config


def _issues(repo: Path) -> list[tuple[int, str]]:
    with pytest.raises(ConfigError) as caught:
        load_config(repo)
    return [(issue.line, issue.message) for issue in caught.value.issues]


def test_a_fifo_named_klapper_yaml_is_refused_and_check_does_not_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "klapper.yaml")
    (tmp_path / "posts").mkdir()
    # A process of its own: a regression would block in open() for good, not fail.
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from klapper.cli import main; main()",
            "check",
            "--repo",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    assert (
        "cannot read klapper.yaml: this is a named pipe (FIFO), not a regular file; "
        "klapper reads only regular files"
    ) in done.stdout
    assert "Traceback" not in done.stderr


def test_a_huge_klapper_yaml_is_refused_by_its_size_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (tmp_path / "klapper.yaml").open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    reads: list[int] = []
    real_read = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
    assert _issues(tmp_path) == [
        (
            1,
            (
                "klapper.yaml: file is 52,428,800 bytes; klapper reads "
                "files of at most 1,048,576 bytes"
            ),
        )
    ]
    assert reads == []


def test_a_klapper_yaml_symlinked_out_of_the_repository_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text("timezone: UTC\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    os.symlink(outside, repo / "klapper.yaml")
    assert _issues(repo) == [
        (
            1,
            (
                "klapper.yaml is a symlink to a file outside the content "
                "repository; klapper does not read it"
            ),
        )
    ]
    os.symlink("../elsewhere.yaml", repo / "inside.yaml")  # a link inside is fine
    (repo / "klapper.yaml").unlink()
    os.symlink("inside.yaml", repo / "klapper.yaml")
    with pytest.raises(ConfigError):  # inside.yaml itself points out: still refused
        load_config(repo)


@pytest.mark.parametrize(
    "log",
    ["~/.bashrc", "/etc/cron.d/klapper", "../../.profile", "logs/../../x.jsonl", "~root/.bashrc"],
)
def test_a_log_path_outside_the_state_folder_and_the_repository_is_refused(
    tmp_path: Path, log: str
) -> None:
    (tmp_path / "klapper.yaml").write_text(f"timezone: UTC\npaths:\n  log: {log!r}\n")
    ((line, message),) = _issues(tmp_path)
    assert line == 3
    assert message.startswith("paths › log")
    assert (
        "outside the state folder and the repository" in message
        or "must stay inside the state folder" in message
    )


def test_a_log_path_through_a_symlink_out_of_the_repository_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    os.symlink(Path.home(), repo / "home")
    (repo / "klapper.yaml").write_text(f"paths:\n  log: {repo / 'home' / '.bashrc'}\n")
    assert _issues(repo)[0][0] == 2


@pytest.mark.parametrize("log", ["events.jsonl", "logs/klapper.jsonl", "REPO/log/events.jsonl"])
def test_log_paths_inside_the_state_folder_or_the_repository_are_fine(
    tmp_path: Path, log: str
) -> None:
    log = log.replace("REPO", str(tmp_path))
    (tmp_path / "klapper.yaml").write_text(f"paths:\n  log: {log}\n")
    assert load_config(tmp_path).paths.log == log
