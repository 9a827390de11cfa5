"""The event log: JSONL, one object per line, appended and flushed; people may read and grep it.

Each line is ``{"ts", "event", "delivery", "post", "account", "platform", ...fields}`` with
``ts`` in UTC. Events: published, retry, failed, unknown, reconciled, missed, cancelled,
edited, renamed, paused, resumed, waiting, skipped (the engagement side adds its own).
Lines are written with one ``write`` on a file opened for appending, so that several
processes may log at once; published and failed lines are also fsynced.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from klapper.ledger.faults import StateError, check_room, os_error
from klapper.ledger.states import Delivery

#: events worth an fsync: losing them would hide what went out or what failed for good
DURABLE = frozenset({"published", "failed"})

Listener = Callable[[Mapping[str, Any]], None]


def event_log_path(*, state: Path, configured: str | None) -> Path:
    """``config.paths.log`` if set (a relative path is relative to the state folder)."""
    if not configured:
        return state / "events.jsonl"
    path = Path(configured).expanduser()
    return path if path.is_absolute() else state / path


class EventLog:
    """Appends events to one JSONL file; ``listeners`` also see each event (e.g. notify).

    The file is reopened when it is replaced (its inode changes: logrotate's ``create``) or
    deleted, so that later events never go to a file nobody can see; ``copytruncate`` works
    too (appends follow the truncation). A failed open or write is a ``StateError`` naming it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.listeners: list[Listener] = []
        self._fd = -1
        self._identity = self._open()

    def _open(self) -> tuple[int, int]:
        """Open (or create) the file for appending; returns its (device, inode)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Non-blocking: a FIFO put in its place must not hang the open.
            fd = os.open(
                self.path,
                os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC,
                0o640,
            )
        except OSError as exc:
            raise os_error(exc, path=self.path) from exc
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise StateError(
                f"{self.path}: the event log is not a regular file; remove it (or"
                " point paths.log in klapper.yaml at a file)"
            )
        self._fd = fd
        return info.st_dev, info.st_ino

    def _follow(self) -> None:
        """Reopen when the path no longer names the file being written (rotated, deleted)."""
        try:
            info = os.stat(self.path)
            current = (info.st_dev, info.st_ino)
        except FileNotFoundError:
            current = None
        if current != self._identity:
            os.close(self._fd)
            self._identity = self._open()

    def check_room(self) -> None:
        """Raise ``StateError`` unless the log's device has room (checked before publishing)."""
        with self._lock:
            self._follow()
            check_room(self._fd, path=self.path)

    def emit(
        self,
        event: str,
        *,
        delivery: Delivery | None = None,
        now: datetime | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Write one event; ``delivery`` fills in delivery, post, account and platform."""
        record: dict[str, Any] = {
            "ts": (now or datetime.now(UTC)).astimezone(UTC).isoformat(),
            "event": event,
        }
        if delivery is not None:
            record.update(
                delivery=delivery.id,
                post=delivery.post_id,
                account=delivery.account,
                platform=delivery.platform,
            )
            if delivery.occurrence:
                record["occurrence"] = delivery.occurrence
        record.update({k: v for k, v in fields.items() if v is not None})
        line = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode()
        with self._lock:
            try:
                self._follow()
                os.write(self._fd, line)
                if event in DURABLE:
                    os.fsync(self._fd)
            except OSError as exc:
                raise os_error(exc, path=self.path) from exc
        for listener in self.listeners:
            listener(record)
        return record

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def read_events(path: Path) -> list[dict[str, Any]]:
    """All events in the log (a torn last line from a crash is skipped)."""
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events
