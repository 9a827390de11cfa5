"""`klapper run`: one timer per upcoming delivery, rebuilt when the queue changes; signals.

APScheduler 3.x (in-memory job store, a job store is never shared between processes) is only
the timer: every job carries ``misfire_grace_time=None`` because catch-up is klapper's call
(the publisher marks deliveries past ``defaults.catch_up`` as missed). The ledger stays the
truth: a job fires, the publisher claims, and a claim that fails means someone else has it.

Signals: SIGHUP re-reads everything; the first SIGTERM (or SIGINT) lets publishes in hand finish
and exits 0; a second one exits at once (a claim left behind is found at the next start).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from klapper.config.load import CONFIG_FILE
from klapper.engagement.service import EngagementTimer
from klapper.ledger import AccountState, Delivery
from klapper.scheduler.engine import Engine
from klapper.scheduler.notify import Notifier
from klapper.scheduler.publisher import Outcome
from klapper.scheduler.sync import RepositoryBroken, summary
from klapper.scheduler.watch import RepoWatcher

log = logging.getLogger("klapper.daemon")

#: exit code of a second SIGTERM (systemd counts it as a failure, so Restart= applies)
EXIT_FORCED = 130


class Daemon:
    """Runs ``engine`` until stopped; ``run()`` returns the process exit code."""

    def __init__(self, engine: Engine, *, refresh_every: float = 30.0,
                 replan_every: timedelta = timedelta(hours=6), workers: int = 4,
                 notifier: Notifier | None = None, polling: bool = False) -> None:
        self.engine = engine
        self.refresh_every = refresh_every
        self.replan_every = replan_every
        self.notifier = notifier or Notifier()
        self.polling = polling
        self.scheduler = BackgroundScheduler(
            timezone=UTC, executors={"default": ThreadPoolExecutor(workers)},
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )
        self.armed: dict[str, datetime] = {}
        self._armed_lock = threading.Lock()
        self._wake = threading.Event()
        self._reload = threading.Event()
        self._stopping = threading.Event()
        self._signals = 0
        self._in_hand = 0
        self._idle = threading.Condition()
        self._accounts: dict[str, AccountState] = {}
        self._refreshed = engine.clock()
        # Reading reactions and replies: one timer of its own (engagement/service.py).
        self.engagement = EngagementTimer(engine=engine, scheduler=self.scheduler)

    # --- life cycle ------------------------------------------------------------------------

    def run(self) -> int:
        self._install_signals()
        self.engine.recover()
        self._load()
        self.scheduler.start()
        self.arm_all()
        self.engagement.arm()
        if self.notifier.watchdog_interval:
            self.scheduler.add_job(self.notifier.watchdog, "interval", id="watchdog",
                                   seconds=self.notifier.watchdog_interval)
        self.scheduler.add_job(self.refresh, "interval", id="refresh", seconds=self.refresh_every)
        self.scheduler.add_job(self.request_reload, "interval", id="replan",
                               seconds=self.replan_every.total_seconds())
        watcher = RepoWatcher(root=self.engine.repo, posts=self.engine.config.paths.posts,
                              config_file=CONFIG_FILE, on_change=self._changed,
                              polling=self.polling)
        watcher.start()
        self.notifier.ready(self.status_line())
        log.info("klapper running: %s", self.status_line())
        try:
            while not self._stopping.is_set():
                self._wake.wait()
                self._wake.clear()
                if self._reload.is_set() and not self._stopping.is_set():
                    self._reload.clear()
                    self.notifier.reloading()
                    self._load()
                    self.arm_all()
                    self.engagement.arm()
                    self.notifier.ready(self.status_line())
        finally:
            self.notifier.stopping()
            log.info("stopping: letting publishes in hand finish")
            watcher.stop()
            self.engagement.stop()
            self._finish_in_hand()
            # Not shutdown(wait=True): APScheduler holds its job store lock while it waits,
            # and a job that re-arms a timer would wait for that lock forever.
            self.scheduler.shutdown(wait=False)
            self.engine.close()
        log.info("stopped")
        return 0

    def stop(self) -> None:
        with self._idle:
            self._stopping.set()
        self._wake.set()

    def request_reload(self, *, full: bool = True) -> None:
        if full:
            self.engine.cache.rescan_all()
        self._reload.set()
        self._wake.set()

    def _changed(self, paths: set[str]) -> None:
        self.engine.cache.changed(paths)
        self.request_reload(full=False)

    def _install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        signal.signal(signal.SIGHUP, lambda signum, frame: self.request_reload())

    def _on_stop_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals += 1
        if self._signals > 1:
            os._exit(EXIT_FORCED)  # cold stop: a claim in hand is resolved at the next start
        self.stop()

    def _load(self) -> None:
        try:
            report = self.engine.reload()
        except RepositoryBroken as exc:
            log.error("%s", exc)
            self.notifier.status(f"klapper.yaml has errors: {exc}")
            return
        changes = ", ".join(summary(report))
        if changes:
            log.info("queue changed: %s", changes)
        if self.engine.publisher is not None:
            self.engine.publisher.mark_missed()

    # --- timers ----------------------------------------------------------------------------

    def arm_all(self) -> None:
        """(Re)arm a timer for every delivery that will be tried by itself."""
        # Whatever changes from here on is for the next refresh to pick up; not all 10,000.
        self._refreshed = self.engine.clock()
        self._accounts = self.engine.ledger.accounts()
        waiting = self.engine.ledger.waiting()
        keep = {d.id for d in waiting}
        with self._armed_lock:
            gone = [d for d in self.armed if d not in keep]
        for delivery in gone:
            self._disarm(delivery)
        self.arm(waiting)

    def arm(self, deliveries: list[Delivery]) -> None:
        accounts = self.engine.config.accounts
        for delivery in deliveries:
            when = self.engine.ledger.next_try(delivery, self._accounts)
            if delivery.account in accounts and accounts[delivery.account].paused:
                when = None  # `paused: true` in klapper.yaml
            with self._armed_lock:
                if when is None:
                    if self.armed.pop(delivery.id, None) is not None:
                        self._remove_job(delivery.id)
                    continue
                if self.armed.get(delivery.id) == when:
                    continue
                self.armed[delivery.id] = when
            self.scheduler.add_job(self._fire, "date", run_date=when, args=[delivery.id],
                                   id=delivery.id, replace_existing=True)

    def _disarm(self, delivery: str) -> None:
        with self._armed_lock:
            if self.armed.pop(delivery, None) is None:
                return
        self._remove_job(delivery)

    def _remove_job(self, job_id: str) -> None:
        try:
            self.scheduler.remove_job(job_id)
        except Exception:  # noqa: BLE001 - JobLookupError: it fired meanwhile
            pass

    def _fire(self, delivery_id: str) -> None:
        with self._armed_lock:
            self.armed.pop(delivery_id, None)
        with self._idle:
            if self._stopping.is_set() or self.engine.publisher is None:
                return
            self._in_hand += 1
        try:
            outcome = self.engine.publisher.publish(delivery_id)
            if not self._stopping.is_set():
                self._after(delivery_id, outcome)
        finally:
            with self._idle:
                self._in_hand -= 1
                self._idle.notify_all()

    def _finish_in_hand(self) -> None:
        """Wait for publishes in hand (a second SIGTERM cuts this short)."""
        with self._idle:
            while self._in_hand:
                self._idle.wait()

    def _after(self, delivery_id: str, outcome: Outcome | None) -> None:
        row = self.engine.ledger.get(delivery_id)
        if row is not None:
            accounts = self.engine.ledger.accounts()
            changed = accounts.get(row.account) != self._accounts.get(row.account)
            self._accounts = accounts
            if changed:
                # A rate limit or a pause moves every waiting delivery of this account.
                self.arm(self.engine.ledger.select(
                    "account = ? AND (state = 'planned' OR state IN ('failed', 'unknown')"
                    " AND retry_at IS NOT NULL)", (row.account,)))
            elif (outcome is not None and outcome.event != "held") or row.due > self.engine.clock():
                self.arm([row])
            # Not claimable though due (taken by another process, post gone, held for an
            # error in the post): the next refresh or reload decides; re-arming would spin.
        self.notifier.status(self.status_line())

    def refresh(self) -> None:
        """Pick up what other processes changed (`klapper retry`, a dead manual publish)."""
        since, self._refreshed = self._refreshed, self.engine.clock()
        self.engine.recover()
        if self.engine.publisher is not None:
            self.engine.publisher.mark_missed()
        accounts = self.engine.ledger.accounts()
        if accounts != self._accounts:
            self._accounts = accounts
            self.arm_all()
            return
        changed = self.engine.ledger.changed(since=since - timedelta(seconds=1))
        if changed:
            self.arm(changed)

    def status_line(self) -> str:
        """For systemd's STATUS=: the next delivery and when, and what needs attention."""
        with self._armed_lock:
            upcoming = min(self.armed.items(), key=lambda item: item[1], default=None)
        parts = []
        if upcoming is not None:
            row = self.engine.ledger.get(upcoming[0])
            local = upcoming[1].astimezone(self.engine.config.tz)
            if row is not None:
                parts.append(f"next: {row.post_id} to {row.account} at {local:%Y-%m-%d %H:%M %Z}")
        else:
            parts.append("nothing planned")
        failed = len(self.engine.ledger.select("state = 'failed' AND retry_at IS NULL"))
        if failed:
            parts.append(f"{failed} failed")
        paused = [a.name for a in self._accounts.values() if a.paused_at is not None]
        if paused:
            parts.append(f"paused: {', '.join(paused)}")
        return "; ".join(parts)
