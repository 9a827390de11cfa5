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
from klapper.engagement.attribution import TagsOf
from klapper.engagement.poller import AccountLock, Clock, Poller, Progress, RoundReport
from klapper.engagement.visits import OpenReader, Visits, VisitsReport, open_reader
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
        on_secrets: Callable[[list[str]], None] | None = None,
        site_reader: OpenReader = open_reader,
        tags: TagsOf | None = None,
    ) -> None:
        self.poller = Poller(
            ledger=ledger,
            events=events,
            config=config,
            adapters=adapters,
            clock=clock,
            account_lock=account_lock,
        )
        self.visits = Visits(
            ledger=ledger,
            events=events,
            config=config,
            clock=clock,
            marks=self.poller.store,
            on_secrets=on_secrets,
            reader=site_reader,
            tags=tags,
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

    def use(
        self,
        *,
        config: Config,
        events: EventLog,
        adapters: Callable[[str], Adapter],
        tags: TagsOf | None = None,
    ) -> None:
        """Carry on with a reloaded configuration (and posts: ``tags``)."""
        with self._lock:
            self.visits.tags = tags
            self.poller.config = self.notifier.config = self.visits.config = config
            self.poller.events = self.visits.events = events
            self.notifier.events_path = events.path
            self.poller.adapters = adapters

    def round(self, *, progress: Progress | None = None, look_now: bool = False) -> RoundReport:
        """One polling round, then the notices it and the event log call for."""
        with self._lock:
            self.last_round = self.clock()
            report = self.poller.run_round(progress=progress, look_now=look_now)
            if not self.poller.stopping.is_set():
                report.visits = self._visits(look_now=look_now)
            self.notifier.check(new_items=report.new_items, visits=report.visits)
        log.info(
            "engagement: %d readings, %d new in the inbox, %d requests%s",
            len(report.readings),
            len(report.new_items),
            report.requests,
            f", {report.left} left for later" if report.left else "",
        )
        return report

    def _visits(self, *, look_now: bool) -> VisitsReport | None:
        """The visits round after the reactions: a fault of the site's never stops them."""
        try:
            found = self.visits.run_round(look_now=look_now)
        except Exception as exc:
            log.error("visits: reading failed unexpectedly: %s: %s", type(exc).__name__, exc)
            log.debug("visits: the traceback", exc_info=exc)
            return None
        if found is not None and (found.requests or found.readings):
            log.info(
                "visits: %d readings, %d rows new or changed, %d requests to %s%s",
                found.readings,
                found.rows,
                found.requests,
                found.tool,
                f", {found.left} left for later" if found.left else "",
            )
        return found

    def notices(self) -> list[str]:
        with self._lock:
            return self.notifier.check()

    def next_round(self) -> datetime | None:
        times = [
            t
            for t in (self.poller.next_round(last_round=self.last_round), self.visits.next_due())
            if t is not None
        ]
        if not times:
            return None
        earliest = min(times)
        if self.last_round is not None:
            earliest = max(earliest, self.last_round + self.poller.config.engagement.min_gap)
        return earliest
