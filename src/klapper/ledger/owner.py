"""Who holds a claim (host, pid, process start) and whether that process still lives."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta


def _stat(pid: int) -> tuple[str, str]:
    """The process's state letter and start time in ticks since boot ('' without /proc).

    Together with the pid the start names one process: a pid reused later has another start.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # The command name (field 2) may hold spaces; fields after its ')' are plain.
            fields = stat.read().rsplit(b")", 1)[1].split()
        return fields[0].decode(), fields[19].decode()
    except (OSError, IndexError):
        return "", ""


def current_owner() -> str:
    """This process as a claim owner: ``host:pid:start``."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_stat(pid)[1]}"


def owner_alive(
    owner: str | None, *, claimed_at: datetime | None, now: datetime, stale_after: timedelta
) -> bool:
    """Whether the process that wrote ``owner`` may still be publishing.

    On this host the process table decides; a claim from another host (a shared ledger)
    counts as dead only once it is older than ``stale_after``.
    """
    host, _, rest = (owner or "").partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return claimed_at is not None and now - claimed_at < stale_after
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process (another user): it exists
        pass
    state, started = _stat(pid)
    if state == "Z":  # killed, not yet reaped by its parent
        return False
    return not start or started in ("", start)
