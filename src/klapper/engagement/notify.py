"""Notifications: run klapper.yaml's ``notify:`` command when something needs the user.

When: a delivery failed for good, an account was paused (both read from the event log, from
where the last check stopped, so the publisher needs no hook and cron runs are covered too),
new replies or mentions wait in the inbox, or a credential runs out within 7 days (once per
credential and expiry). The command is split like a shell would (``shlex``) but run without
one, with the message as its last argument and in $KLAPPER_MESSAGE, with a timeout; when it
fails, that is logged and klapper carries on.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from klapper.config.expiry import expiring_credentials
from klapper.config.model import Config
from klapper.engagement.store import EngagementStore, InboxItem

log = logging.getLogger("klapper.notify")

#: seconds the notify command may take
TIMEOUT = 30.0
#: more events than this in one check become one summary message
DETAIL_LIMIT = 3

Runner = Callable[..., bool]


def run_notify(*, command: str, message: str, timeout: float = TIMEOUT) -> bool:
    """Run ``command`` with ``message``; True when it exited 0. Never raises."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        log.warning("notify: cannot split the command in klapper.yaml (%s); fix its quoting", exc)
        return False
    if not argv:
        return False
    try:
        done = subprocess.run(
            [*argv, message], env={**os.environ, "KLAPPER_MESSAGE": message},
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        log.warning("notify: %s did not finish within %.0f s; stopped it", argv[0], timeout)
        return False
    except OSError as exc:
        log.warning("notify: cannot run %s: %s; check `notify:` in klapper.yaml", argv[0],
                    exc.strerror or exc)
        return False
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        log.warning("notify: %s exited with %d %s", argv[0], done.returncode, said[0][:300])
        return False
    return True


def _event_message(event: Mapping[str, Any]) -> str | None:
    kind, account = event.get("event"), event.get("account", "?")
    if kind == "failed":
        return (f"klapper: {event.get('post')} to {account} failed for good: "
                f"{event.get('reason') or 'no reason given'}. "
                f"`klapper retry {event.get('delivery')}` tries again.")
    if kind == "paused":
        return (f"klapper: account {account} is paused: {event.get('reason') or ''}. "
                f"Run `klapper login {account}`, then `klapper retry --account {account}`.")
    return None


def inbox_message(items: Sequence[InboxItem]) -> str | None:
    """One line about new replies and mentions, or None when there are none."""
    waiting = [item for item in items if item.open]
    if not waiting:
        return None
    counts = {mark: sum(item.attention == mark for item in waiting)
              for mark in ("complaint", "question")}
    marked = ", ".join(f"{n} {mark}{'s' if n > 1 else ''}" for mark, n in counts.items() if n)
    noun = "reply or mention waits" if len(waiting) == 1 else "replies and mentions wait"
    return (f"klapper: {len(waiting)} new {noun} in the inbox"
            f"{f' ({marked})' if marked else ''}: see `klapper inbox`.")


class Notifier:
    """Finds what to tell the user since the last check and runs the notify command."""

    def __init__(self, *, store: EngagementStore, config: Config, events_path: Path,
                 run: Runner = run_notify, expiring: Callable[..., list[Any]] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.config = config
        self.events_path = events_path
        self.run = run
        self.expiring = expiring if expiring is not None else expiring_credentials
        self.clock = clock

    def check(self, *, new_items: Sequence[InboxItem] = ()) -> list[str]:
        """Notify what is new; returns the messages sent (or that would have been, if failed)."""
        events = self._new_events()
        if not self.config.notify:
            return []
        messages = [m for m in (_event_message(e) for e in events) if m]
        if len(messages) > DETAIL_LIMIT:
            failed = sum(e.get("event") == "failed" for e in events)
            paused = sum(e.get("event") == "paused" for e in events)
            messages = [f"klapper: {failed} deliveries failed for good and {paused} account"
                        f" pauses since the last check; see `klapper status`."]
        inbox = inbox_message(new_items)
        if inbox:
            messages.append(inbox)
        messages += self._expiry_messages()
        for message in messages:
            self.run(command=self.config.notify, message=message)
        return messages

    def _new_events(self) -> list[dict[str, Any]]:
        """Complete event-log lines written since the last check (none on the first one)."""
        name = f"notify:events:{self.events_path}"
        try:
            size = self.events_path.stat().st_size
        except FileNotFoundError:
            size = 0
        mark = self.store.mark(name)
        offset = int(mark) if mark is not None else size
        if offset > size:  # the log was replaced: start over at its end
            offset = size
        if offset == size:
            if mark is None or int(mark) != size:
                self.store.set_mark(name, str(size), now=self.clock())
            return []
        with open(self.events_path, "rb") as log_file:
            log_file.seek(offset)
            chunk = log_file.read(size - offset)
        complete = chunk[:chunk.rfind(b"\n") + 1]  # a line still being written waits
        events = []
        for line in complete.splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        self.store.set_mark(name, str(offset + len(complete)), now=self.clock())
        return [e for e in events if e.get("event") in ("failed", "paused")]

    def _expiry_messages(self) -> list[str]:
        now = self.clock()
        try:
            found = self.expiring(accounts=self.config.accounts, now=now)
        except Exception as exc:  # noqa: BLE001 - a warning must never stop klapper
            log.warning("notify: could not check credential expiry: %s", exc)
            return []
        messages = []
        for credential in found:
            name = f"notify:expiry:{credential.account}:{credential.expires_at.isoformat()}"
            if self.store.mark(name) is None:
                messages.append("klapper: " + credential.message(tz=self.config.tz, now=now))
                self.store.set_mark(name, now.isoformat(), now=now)
        return messages
