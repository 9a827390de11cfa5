"""Engagement rounds with their notices: one poller and one notifier over a ledger.

`klapper refresh` runs a round by hand; in the daemon, ``scheduler.engagement_timer`` arms one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from klapper.adapters.base import Adapter
from klapper.config.model import Config
from klapper.engagement.alerts import Notifier, Runner, run_notify
from klapper.engagement.poller import AccountLock, Clock, Poller, Progress, RoundReport
from klapper.ledger import EventLog, Ledger

log = logging.getLogger("klapper.engagement")


class Engagement:
    """A poller and a notifier over one ledger, event log and configuration."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        events: EventLog,
        config: Config,
        adapters: Callable[[str], Adapter],
        clock: Clock = lambda: datetime.now(UTC),
        account_lock: AccountLock | None = None,
        run: Runner = run_notify,
        expiring: Callable[..., list[Any]] | None = None,
    ) -> None:
        self.poller = Poller(
            ledger=ledger,
            events=events,
            config=config,
            adapters=adapters,
            clock=clock,
            account_lock=account_lock,
        )
        self.notifier = Notifier(
            store=self.poller.store,
            config=config,
            events_path=events.path,
            run=run,
            expiring=expiring,
            clock=clock,
        )
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
        log.info(
            "engagement: %d readings, %d new in the inbox, %d requests%s",
            len(report.readings),
            len(report.new_items),
            report.requests,
            f", {report.left} left for later" if report.left else "",
        )
        return report

    def notices(self) -> list[str]:
        with self._lock:
            return self.notifier.check()

    def next_round(self) -> datetime | None:
        return self.poller.next_round(last_round=self.last_round)
