"""State faults (a damaged ledger, a read-only folder, a full disk) as one clear line each.

SQLite and the operating system describe these in their own words and without the file's
path. ``StateError`` says which file, what is wrong and what to do; the command line prints
it as one line and exits 1, the daemon logs it and stops. A damaged ledger is never replaced
by klapper on its own: the user moves it away and runs `klapper ledger rebuild`.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

#: below this much free space on the state folder's or the event log's device, nothing is
#: published: the claim, the outcome and the log line must all fit, or a post goes out unrecorded
MIN_FREE_BYTES = 256 * 1024


class StateError(Exception):
    """The state folder cannot be used as it is; the message names the file and the remedy."""


class LedgerDamaged(StateError):
    """The ledger file is not a (sound) SQLite database."""


def _full(path: Path) -> str:
    return (
        f"{path}: no space left on its device: free some space there (or move the state"
        " folder); klapper publishes nothing until the ledger and the event log can be"
        " written"
    )


def _readonly(path: Path, detail: str) -> str:
    return (
        f"{path}: cannot be written ({detail}): make {path.parent} writable for this user"
        " (and its files), or pass --state DIR"
    )


def ledger_error(exc: sqlite3.Error, *, path: Path) -> StateError | None:
    """``exc`` as a ``StateError`` when it is a fault of the ledger's file; None otherwise."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if (
        name in ("SQLITE_NOTADB", "SQLITE_CORRUPT")
        or "malformed" in text
        or "not a database" in text
    ):
        return LedgerDamaged(
            f"{path}: the ledger is damaged ({text}); klapper leaves it as it is. Keep a copy,"
            " move it away and run `klapper ledger rebuild` to rebuild it from the event log"
        )
    if name == "SQLITE_FULL" or "disk is full" in text:
        return StateError(_full(path))
    if (
        name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH"))
        or "readonly" in text
        or "unable to open" in text
    ):
        return StateError(_readonly(path, text))
    if name.startswith("SQLITE_IOERR") or "disk I/O error" in text:
        return StateError(
            f"{path}: the disk failed to read or write the ledger ({text}): check"
            " the device (dmesg) and its free space, then run again"
        )
    return None


def os_error(exc: OSError, *, path: Path) -> StateError:
    """A failed open or write of a state file (the event log, the ledger's folder)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StateError(_full(path))
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StateError(_readonly(path, exc.strerror or str(exc)))
    return StateError(
        f"{path}: {exc.strerror or exc}: check the file and its folder, then run again"
    )


def check_room(fd: int, *, path: Path) -> None:
    """Raise ``StateError`` unless the device holding ``fd`` has ``MIN_FREE_BYTES`` free."""
    stat = os.fstatvfs(fd)
    if stat.f_bavail * stat.f_frsize < MIN_FREE_BYTES:
        raise StateError(_full(path))
