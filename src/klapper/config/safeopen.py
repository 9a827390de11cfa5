"""Opening files of the content repository: regular files only, their size known before reading.

A repository may hold what no editor makes: a named pipe (FIFO) where a post or klapper.yaml
should be, whose plain ``open`` waits for a writer forever (a daemon stuck in it ignores even
SIGTERM), a device, a socket, or a file of many megabytes. So a file is opened without
blocking (``O_NONBLOCK``, which changes nothing for a regular file), ``fstat``-ed through its
descriptor (no race with a rename), refused unless it is a regular file, and refused by its
size before a byte is read.
"""

from __future__ import annotations

import os
import stat

_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)

_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISDIR, "a folder"),
)


def kind_of(mode: int) -> str:
    """What a file that is not a regular file is, in words ("a named pipe (FIFO)" ...)."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


class NotRegularFile(OSError):
    """The path is a FIFO, socket, device or folder: never read."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"this is {kind}, not a regular file; klapper reads only regular files")
        self.kind = kind
        self.strerror = str(self)


class FileTooLarge(ValueError):
    """The file is larger than the caller reads; ``size`` is its size (from fstat)."""

    def __init__(self, size: int, limit: int, *, grew: bool = False) -> None:
        said = f"more than {limit:,}" if grew else f"{size:,}"
        super().__init__(f"file is {said} bytes; klapper reads files of at most {limit:,} bytes")
        self.size, self.limit = size, limit


def open_regular(path: str | os.PathLike[str]) -> tuple[int, os.stat_result]:
    """A descriptor of ``path`` and its stat; NotRegularFile (closed again) if not regular."""
    fd = os.open(path, _FLAGS)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(kind_of(info.st_mode))
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def read_regular(path: str | os.PathLike[str], *, limit: int) -> tuple[bytes, os.stat_result]:
    """The whole of a regular file of at most ``limit`` bytes, and its stat.

    The size comes from fstat, so a file too large is refused without reading it; a file that
    grows while being read is read only to ``limit`` + 1 bytes. os.read with the size known
    costs half of open().read(): no buffered file object, no second read to find the end.
    """
    fd, info = open_regular(path)
    try:
        if info.st_size > limit:
            raise FileTooLarge(info.st_size, limit)
        raw = os.read(fd, info.st_size + 1)
        while info.st_size < len(raw) <= limit and (more := os.read(fd, limit + 1 - len(raw))):
            raw += more  # it grew since the stat: read on (rare, and capped)
        if len(raw) > limit:
            raise FileTooLarge(len(raw), limit, grew=True)
        return raw, info
    finally:
        os.close(fd)
