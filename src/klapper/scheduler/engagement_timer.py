"""The daemon's engagement timer: one job armed for the next round that has work.

One APScheduler date job (``JOB_ID``) is armed for the next round that has work (a reading
come due, an inbox read, the end of a rate-limit wait); after each round it is armed again.
When nothing will ever be due, no job exists: no polling while idle. Failures and pauses the
publisher logs trigger a notice check at once through an event-log listener.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from klapper.engagement.poller import supports
from klapper.engagement.service import Engagement
from klapper.ledger import EventLog
from klapper.queue.campaign import SentTags
from klapper.scheduler.timers import Timers

log = logging.getLogger("klapper.engagement")

JOB_ID = "klapper-engagement"
NOTIFY_JOB_ID = "klapper-notify"


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
        # Visits are matched by the campaign tags the links were sent with (a post's own utm:).
        tags = SentTags(config=self.engine.config, posts=publisher.posts)
        if self.service is None:
            self.service = Engagement(
                ledger=self.engine.ledger,
                events=events,
                config=self.engine.config,
                adapters=publisher.adapters,
                clock=self.engine.clock,
                # Share the publisher's per-account lock: adapters are not shared between calls.
                account_lock=publisher._lock_for,  # noqa: SLF001 - same process, same adapters
                on_secrets=self.engine.on_secrets,
                tags=tags,
            )
        else:
            self.service.use(
                config=self.engine.config, events=events, adapters=publisher.adapters, tags=tags
            )
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
        except Exception:
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
        read = settings is not None and supports(settings.platform, "metrics")
        if (
            not read and config.analytics is None
        ):  # nothing to read for it: not reactions, not visits
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
