"""Notifications: run klapper.yaml's ``notify:`` command when something needs the user.

When: a delivery failed for good, an account was paused (both read from the event log, from
where the last check stopped, so the publisher needs no hook and cron runs are covered too),
new replies or mentions wait in the inbox, a credential runs out within 7 days (once per
credential and expiry), or the website's analytics refused the token (once, until a visits
round reads again). The command is split like a shell would (``shlex``) but run without
one, with the message as its last argument and in $KLAPPER_MESSAGE, with a timeout; when it
fails, that is logged (every known secret redacted) and klapper carries on.

The command gets a clean environment (``KEPT_ENV`` plus $KLAPPER_MESSAGE), never klapper's
credentials (``KLAPPER_*``, systemd's $CREDENTIALS_DIRECTORY) nor $NOTIFY_SOCKET. The first check
in a state folder reads the event log from its start, so the very first failure is told too;
only events older than ``FIRST_LOOK_BACK`` are left out then.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import socket
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from klapper.config.analytics import SECRETS_ENTRY
from klapper.config.expiry import expiring_credentials
from klapper.config.model import Config
from klapper.config.secrets import SecretsError, load_secrets, redact, secret_values
from klapper.engagement.store import EngagementStore, InboxItem
from klapper.engagement.visits import VisitsReport

log = logging.getLogger("klapper.notify")

#: seconds the notify command may take
TIMEOUT = 30.0
#: more events than this in one check become one summary message
DETAIL_LIMIT = 3
#: the first check tells events this recent (older ones happened before anyone listened)
FIRST_LOOK_BACK = timedelta(days=1)
#: what the command's environment keeps: enough to run a program, speak the user's language
#: and reach the desktop session (notify-send needs its bus); nothing of klapper's own
KEPT_ENV = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "TZ",
    "TMPDIR",
    "XDG_RUNTIME_DIR",
    "DBUS_SESSION_BUS_ADDRESS",
    "DISPLAY",
    "WAYLAND_DISPLAY",
)
#: set while a refused analytics token has been told (cleared by a visits round that reads)
_REFUSED_MARK = "notify:analytics:refused"
#: klapper's settings in the environment that are not secrets
_NOT_SECRET_ENV = frozenset({"KLAPPER_REPO", "KLAPPER_STATE", "KLAPPER_SECRETS", "KLAPPER_MESSAGE"})

Runner = Callable[..., bool]


def notify_environment(*, message: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The notify command's environment: ``KEPT_ENV`` from ``environ`` and $KLAPPER_MESSAGE."""
    env = os.environ if environ is None else environ
    return {**{name: env[name] for name in KEPT_ENV if name in env}, "KLAPPER_MESSAGE": message}


def known_secrets(config: Config, *, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret klapper could know of: each account's credentials, and KLAPPER_* values."""
    env = os.environ if environ is None else environ
    found = [
        value
        for name, value in env.items()
        if name.startswith("KLAPPER_") and name not in _NOT_SECRET_ENV
    ]
    names = [*config.accounts, *([SECRETS_ENTRY] if config.analytics else [])]
    for account in names:
        try:
            found += secret_values(load_secrets(account, environ=environ))
        except SecretsError:
            continue  # unreadable: then its values cannot have reached the command either
    return found


def run_notify(
    *, command: str, message: str, timeout: float = TIMEOUT, secrets: Iterable[str] = ()
) -> bool:
    """Run ``command`` with ``message``; True when it exited 0. Never raises.

    What the command says on stderr is logged with ``secrets`` redacted.
    """
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        log.warning("notify: cannot split the command in klapper.yaml (%s); fix its quoting", exc)
        return False
    if not argv:
        return False
    try:
        done = subprocess.run(
            [*argv, message],
            env=notify_environment(message=message),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        log.warning("notify: %s did not finish within %.0f s; stopped it", argv[0], timeout)
        return False
    except OSError as exc:
        log.warning(
            "notify: cannot run %s: %s; check `notify:` in klapper.yaml",
            argv[0],
            exc.strerror or exc,
        )
        return False
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        log.warning(
            "notify: %s exited with %d %s", argv[0], done.returncode, redact(said[0], secrets)[:300]
        )
        return False
    return True


def _when(event: Mapping[str, Any]) -> datetime:
    """When an event happened (its ``ts``); long ago when it says not."""
    try:
        moment = datetime.fromisoformat(str(event.get("ts")))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _event_message(event: Mapping[str, Any]) -> str | None:
    kind, account = event.get("event"), event.get("account", "?")
    if kind == "failed":
        return (
            f"klapper: {event.get('post')} to {account} failed for good: "
            f"{event.get('reason') or 'no reason given'}. "
            f"`klapper retry {event.get('delivery')}` tries again."
        )
    if kind == "paused":
        return (
            f"klapper: account {account} is paused: {event.get('reason') or ''}. "
            f"Run `klapper login {account}`, then `klapper retry --account {account}`."
        )
    return None


def inbox_message(items: Sequence[InboxItem]) -> str | None:
    """One line about new replies and mentions, or None when there are none."""
    waiting = [item for item in items if item.open]
    if not waiting:
        return None
    counts = {
        mark: sum(item.attention == mark for item in waiting) for mark in ("complaint", "question")
    }
    marked = ", ".join(f"{n} {mark}{'s' if n > 1 else ''}" for mark, n in counts.items() if n)
    noun = "reply or mention waits" if len(waiting) == 1 else "replies and mentions wait"
    return (
        f"klapper: {len(waiting)} new {noun} in the inbox"
        f"{f' ({marked})' if marked else ''}: see `klapper inbox`."
    )


class Notifier:
    """Finds what to tell the user since the last check and runs the notify command."""

    def __init__(
        self,
        *,
        store: EngagementStore,
        config: Config,
        events_path: Path,
        run: Runner = run_notify,
        expiring: Callable[..., list[Any]] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.config = config
        self.events_path = events_path
        self.run = run
        self.expiring = expiring if expiring is not None else expiring_credentials
        self.clock = clock

    def check(
        self, *, new_items: Sequence[InboxItem] = (), visits: VisitsReport | None = None
    ) -> list[str]:
        """Notify what is new; returns the messages sent (or that would have been, if failed).

        ``visits``: the round's visits report, whose refused token is told once.
        """
        events = self._new_events()
        if not self.config.notify:
            return []
        messages = [m for m in (_event_message(e) for e in events) if m]
        if len(messages) > DETAIL_LIMIT:
            failed = sum(e.get("event") == "failed" for e in events)
            paused = sum(e.get("event") == "paused" for e in events)
            messages = [
                f"klapper: {failed} deliveries failed for good and {paused} account"
                f" pauses since the last check; see `klapper status`."
            ]
        inbox = inbox_message(new_items)
        if inbox:
            messages.append(inbox)
        messages += self._expiry_messages()
        messages += self._visits_messages(visits)
        secrets = known_secrets(self.config) if messages else []
        for message in messages:
            self.run(command=self.config.notify, message=message, secrets=secrets)
        return messages

    def _new_events(self) -> list[dict[str, Any]]:
        """Complete event-log lines written since the last check (the first: see FIRST_LOOK_BACK)."""
        name = f"notify:events:{self.events_path}"
        if self.store.ledger.shared:
            # Each machine reads its own log, maybe at the same path: each its own offset.
            name = f"notify:events:{socket.gethostname()}:{self.events_path}"
        try:
            size = self.events_path.stat().st_size
        except FileNotFoundError:
            size = 0
        mark = self.store.mark(name)
        offset = int(mark) if mark is not None else 0
        if offset > size:  # the log was replaced (rotated): the new one from its start
            offset = 0
        if offset == size:
            if mark is None or int(mark) != size:
                self.store.set_mark(name, str(size), now=self.clock())
            return []
        events = []
        with open(self.events_path, "rb") as log_file:
            log_file.seek(offset)
            for line in log_file:
                if not line.endswith(b"\n"):
                    break  # a line still being written waits for the next check
                offset += len(line)
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(event, dict) and event.get("event") in ("failed", "paused"):
                    events.append(event)  # only these: a first read may cover a long log
        self.store.set_mark(name, str(offset), now=self.clock())
        if mark is None:
            since = self.clock() - FIRST_LOOK_BACK
            events = [e for e in events if _when(e) >= since]
        return events

    def _visits_messages(self, visits: VisitsReport | None) -> list[str]:
        """A refused analytics token, told once: every round retries it, only the first tells."""
        if visits is None:
            return []
        told = bool(self.store.mark(_REFUSED_MARK))
        if visits.refused and visits.error and not told:
            self.store.set_mark(_REFUSED_MARK, self.clock().isoformat(), now=self.clock())
            return [f"klapper: the website's analytics cannot be read: {visits.error}"]
        if visits.readings and told:  # read again: a later refusal is news again
            self.store.set_mark(_REFUSED_MARK, "", now=self.clock())
        return []

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
