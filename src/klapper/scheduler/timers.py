"""One-shot timers by key on APScheduler: one key never runs twice at once, no firing is dropped.

APScheduler counts the running instances of a job id and, at ``max_instances``, skips a firing
with the warning "maximum number of running instances reached"; for a one-shot (date) job
that skip loses the timer for good. The daemon re-arms a delivery's timer while its publish
is in hand (a reload or refresh while it waits for its account's lock, or the publish's own
outcome), and the engagement round re-arms itself before it returns: such firings were
common, and the delivery or the round then waited for a restart. Here the job id is still the
key (``get_job(key)`` works), APScheduler's limit is off, and a firing that finds its key in
hand is folded into the run in hand, which goes again as soon as it ends.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import sys
import threading
from collections.abc import Callable
from datetime import datetime

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.base import BaseScheduler

log = logging.getLogger("klapper.timers")

Run = Callable[[], object]


class Timers:
    """Arm, move and cancel one-shot timers on ``scheduler``; each key's runs never overlap."""

    def __init__(self, scheduler: BaseScheduler) -> None:
        self.scheduler = scheduler
        self._lock = threading.Lock()
        self._armed: dict[str, tuple[int, datetime]] = {}  # key -> (token, when)
        self._running: set[str] = set()
        self._again: dict[str, Run] = {}
        self._tokens = itertools.count()

    def set(self, key: str, *, when: datetime, run: Run) -> bool:
        """Arm ``key`` to call ``run`` at ``when``; False when it is armed for ``when`` already."""
        with self._lock:  # held across add_job: the last one armed is the one that fires
            armed = self._armed.get(key)
            if armed is not None and armed[1] == when:
                return False
            token = next(self._tokens)
            self._armed[key] = (token, when)
            self.scheduler.add_job(
                self._fire,
                "date",
                run_date=when,
                args=[key, token, run],
                id=key,
                replace_existing=True,
                max_instances=sys.maxsize,
            )
        return True

    def cancel(self, key: str) -> None:
        with self._lock:
            if self._armed.pop(key, None) is None:
                return
            # Handed to a worker already: its token no longer matches, it does nothing.
            with contextlib.suppress(JobLookupError):
                self.scheduler.remove_job(key)

    def when(self, key: str) -> datetime | None:
        with self._lock:
            armed = self._armed.get(key)
        return None if armed is None else armed[1]

    def armed(self) -> dict[str, datetime]:
        """Every armed key and when it fires."""
        with self._lock:
            return {key: when for key, (_, when) in self._armed.items()}

    def _fire(self, key: str, token: int, run: Run) -> None:
        with self._lock:
            armed = self._armed.get(key)
            if armed is None or armed[0] != token:
                return  # moved or cancelled after APScheduler handed it to a worker
            del self._armed[key]
            if key in self._running:
                self._again[key] = run  # the run in hand goes again when it ends
                return
            self._running.add(key)
        while True:
            try:
                run()
            except Exception:  # the key's next firing must not be lost with it
                log.exception("timer %s failed", key)
            with self._lock:
                again = self._again.pop(key, None)
                if again is None:
                    self._running.discard(key)
                    return
            run = again
