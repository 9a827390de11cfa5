"""Engagement rounds with their notices, by hand (`klapper refresh`) or on the daemon's timer.

In the daemon one APScheduler date job (``JOB_ID``) is armed for the next round that has
work (a reading come due, an inbox read, the end of a rate-limit wait); after each round it is
armed again. When nothing will ever be due, no job exists: no polling while idle. Failures
and pauses the publisher logs trigger a notice check at once through an event-log listener.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from klapper.adapters.base import Adapter
from klapper.config.model import Config
from klapper.engagement.notify import Notifier, Runner, run_notify
from klapper.engagement.poller import AccountLock, Clock, Poller, Progress, RoundReport, supports
from klapper.ledger import EventLog, Ledger
from klapper.scheduler.timers import Timers

log = logging.getLogger("klapper.engagement")

JOB_ID = "klapper-engagement"
NOTIFY_JOB_ID = "klapper-notify"


class Engagement:
    """A poller and a notifier over one ledger, event log and configuration."""

    def __init__(self, *, ledger: Ledger, events: EventLog, config: Config,
                 adapters: Callable[[str], Adapter], clock: Clock = lambda: datetime.now(UTC),
                 account_lock: AccountLock | None = None, run: Runner = run_notify,
                 expiring: Callable[..., list[Any]] | None = None) -> None:
        self.poller = Poller(ledger=ledger, events=events, config=config, adapters=adapters,
                             clock=clock, account_lock=account_lock)
        self.notifier = Notifier(store=self.poller.store, config=config, events_path=events.path,
                                 run=run, expiring=expiring, clock=clock)
        self.clock = clock
        self.last_round: datetime | None = None
        self._lock = threading.Lock()  # one round at a time (a timer and a notice check)

    def use(self, *, config: Config, events: EventLog, adapters: Callable[[str], Adapter]) -> None:
        """Carry on with a reloaded configuration."""
        with self._lock:
            self.poller.config = self.notifier.config = config
            self.poller.events = events
            self.notifier.events_path = events.path
            self.poller.adapters = adapters

    def round(self, *, progress: Progress | None = None, look_now: bool = False) -> RoundReport:
        """One polling round, then the notices it and the event log call for."""
        with self._lock:
            self.last_round = self.clock()
            report = self.poller.run_round(progress=progress, look_now=look_now)
            self.notifier.check(new_items=report.new_items)
        log.info("engagement: %d readings, %d new in the inbox, %d requests%s",
                 len(report.readings), len(report.new_items), report.requests,
                 f", {report.left} left for later" if report.left else "")
        return report

    def notices(self) -> list[str]:
        with self._lock:
            return self.notifier.check()

    def next_round(self) -> datetime | None:
        return self.poller.next_round(last_round=self.last_round)


class EngagementTimer:
    """Keeps the daemon's one engagement job armed; built from the daemon's engine."""

    def __init__(self, *, engine: Any, scheduler: Any) -> None:
        self.engine = engine
        self.scheduler = scheduler
        # A round re-arms its job before it returns: Timers runs it again rather than drop it.
        self.timers = Timers(scheduler)
        self.service: Engagement | None = None
        self._listening: EventLog | None = None

    def arm(self) -> None:
        """(Re)build from the engine's current state and arm the job for the next round."""
        publisher = self.engine.publisher
        events = self.engine.events
        if publisher is None or events is None:
            return  # the repository never loaded: nothing is published by this daemon yet
        if self.service is None:
            self.service = Engagement(
                ledger=self.engine.ledger, events=events, config=self.engine.config,
                adapters=publisher.adapters, clock=self.engine.clock,
                # Share the publisher's per-account lock: adapters are not shared between calls.
                account_lock=publisher._lock_for)  # noqa: SLF001 - same process, same adapters
        else:
            self.service.use(config=self.engine.config, events=events,
                             adapters=publisher.adapters)
        if self._listening is not events:
            events.listeners.append(self._on_event)
            self._listening = events
        self._schedule()

    def _schedule(self) -> None:
        assert self.service is not None
        when = self.service.next_round()
        if when is None:
            self.timers.cancel(JOB_ID)
            return
        self.timers.set(JOB_ID, when=when, run=self._run)

    def _run(self) -> None:
        assert self.service is not None
        try:
            self.service.round()
        except Exception:  # noqa: BLE001 - the timer must stay armed whatever happened
            log.exception("engagement round failed")
        if not self.service.poller.stopping.is_set():
            self._schedule()

    def _on_event(self, record: Mapping[str, Any]) -> None:
        if self.service is None or self.service.poller.stopping.is_set():
            return
        if record.get("event") == "published":
            self._arm_for_new_post(str(record.get("account")))
        elif record.get("event") in ("failed", "paused"):
            self.timers.set(NOTIFY_JOB_ID, when=datetime.now(UTC), run=self.service.notices)

    def _arm_for_new_post(self, account: str) -> None:
        """A new post's first reading may come before the armed round: re-arm only then.

        Cheap on purpose: it runs after every publish, and a full `_schedule` reads the ledger.
        """
        assert self.service is not None
        config = self.engine.config
        settings = config.accounts.get(account)
        if settings is None or not supports(settings.platform, "metrics"):
            return
        if not config.engagement.schedule:
            return
        first = self.service.clock() + config.engagement.schedule[0]
        armed = self.timers.when(JOB_ID)
        if armed is None or armed > first:
            self._schedule()

    def stop(self) -> None:
        """End a round in progress after its current request; arm nothing more."""
        if self.service is not None:
            self.service.poller.stopping.set()
            with self.service._lock:  # noqa: SLF001 - wait for the round in hand
                pass
        self.timers.cancel(JOB_ID)
