"""Reading repository files: regular files only, never blocking, the size judged before reading."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from klapper.config import safeopen
from klapper.config.safeopen import (
    FileTooLarge,
    NotRegularFile,
    open_regular,
    read_regular,
)


def test_a_fifo_is_refused_at_once_without_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "posts.yaml"
    os.mkfifo(fifo)
    done = threading.Event()
    outcome: list[BaseException] = []

    def read() -> None:  # a plain open() would wait for a writer forever
        try:
            read_regular(fifo, limit=100)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)
        done.set()

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(5), "reading a FIFO blocked"
    assert isinstance(outcome[0], NotRegularFile)
    assert "named pipe (FIFO)" in str(outcome[0])


def test_folders_and_devices_are_refused(tmp_path: Path) -> None:
    with pytest.raises(NotRegularFile, match="a folder"):
        open_regular(tmp_path)
    with pytest.raises(NotRegularFile, match="a device"):
        open_regular("/dev/null")


def test_a_file_too_large_is_refused_by_its_size_without_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.yaml"
    with path.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # 50 MB (sparse)
    reads: list[int] = []
    real_read = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
    with pytest.raises(FileTooLarge) as caught:
        read_regular(path, limit=1024 * 1024)
    assert reads == []
    assert caught.value.size == 52_428_800
    assert str(caught.value) == (
        "file is 52,428,800 bytes; klapper reads files of at most 1,048,576 bytes"
    )


def test_a_file_that_grows_while_read_is_read_only_to_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.yaml"
    path.write_bytes(b"#" * 5000)
    real_fstat = os.fstat

    def stale(fd: int) -> os.stat_result:  # the file grows just after its fstat
        info = list(real_fstat(fd))
        info[6] = 10  # st_size
        return os.stat_result(info)

    monkeypatch.setattr(safeopen.os, "fstat", stale)
    assert read_regular(path, limit=6000)[0] == b"#" * 5000
    with pytest.raises(FileTooLarge, match="more than 1,000 bytes"):
        read_regular(path, limit=1000)
