"""`klapper run`: one timer per upcoming delivery, rebuilt when the queue changes; signals.

APScheduler 3.x (in-memory job store, a job store is never shared between processes) is only
the timer: every job carries ``misfire_grace_time=None`` because catch-up is klapper's call
(the publisher marks deliveries past ``defaults.catch_up`` as missed). The ledger stays the
truth: a job fires, the publisher claims, and a claim that fails means someone else has it.

Signals: SIGHUP re-reads everything; the first SIGTERM (or SIGINT) lets publishes in hand finish
and exits 0; a second one exits at once (a claim left behind is found at the next start). The
handlers only set flags (wakeup.py). The main loop does the daemon's own work (reloads, the
refresh, the replan) and sends systemd's WATCHDOG=1 once per turn, so that a wedged loop
stops the pings and systemd restarts the daemon; publishes run on APScheduler's workers.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import UTC, datetime, timedelta
from functools import partial

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from klapper.config.load import CONFIG_FILE
from klapper.ledger import AccountState, Delivery
from klapper.scheduler.engagement_timer import EngagementTimer
from klapper.scheduler.engine import Engine
from klapper.scheduler.feed_timer import FeedTimer
from klapper.scheduler.publisher import Outcome
from klapper.scheduler.sync import RepositoryBroken, summary
from klapper.scheduler.systemd import Notifier
from klapper.scheduler.timers import Timers
from klapper.scheduler.wakeup import Wakeup
from klapper.scheduler.watch import RepoWatcher

log = logging.getLogger("klapper.daemon")


class Daemon:
    """Runs ``engine`` until stopped; ``run()`` returns the process exit code."""

    def __init__(
        self,
        engine: Engine,
        *,
        refresh_every: float = 30.0,
        replan_every: timedelta = timedelta(hours=6),
        workers: int = 4,
        notifier: Notifier | None = None,
        polling: bool = False,
    ) -> None:
        self.engine = engine
        self.refresh_every = refresh_every
        self.replan_every = replan_every
        self.notifier = notifier or Notifier()
        self.polling = polling
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(workers)},
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )
        #: one timer per delivery that will be tried by itself, keyed by the delivery's id
        self.timers = Timers(self.scheduler)
        self.wakeup = Wakeup()
        # Set by other threads, cleared by the main loop before it does the work they ask for.
        self._reload = False
        self._rescan = False
        self._stopping = threading.Event()
        self._in_hand = 0
        self._idle = threading.Condition()
        self._accounts: dict[str, AccountState] = {}
        self._refreshed = engine.clock()
        # Reading reactions and replies: one timer of its own (engagement/service.py).
        self.engagement = EngagementTimer(engine=engine, scheduler=self.scheduler)
        # klapper.yaml's feeds: one timer of its own (feed_timer.py).
        self.feeds = FeedTimer(engine=engine, scheduler=self.scheduler)

    # --- life cycle ------------------------------------------------------------------------

    def run(self) -> int:
        self.wakeup.install()
        try:
            return self._run()
        finally:
            self.wakeup.uninstall()

    def _run(self) -> int:
        self.engine.recover()
        self._load()
        self.scheduler.start()
        self.arm_all()
        self.engagement.arm()
        self.feeds.arm()
        watcher = RepoWatcher(
            root=self.engine.repo,
            posts=self.engine.config.paths.posts,
            config_file=CONFIG_FILE,
            on_change=self._changed,
            polling=self.polling,
        )
        watcher.start()
        self.notifier.ready(self.status_line())
        log.info("klapper running: %s", self.status_line())
        try:
            self._loop()
        finally:
            with self._idle:
                self._stopping.set()
            self.notifier.stopping()
            log.info("stopping: letting publishes in hand finish")
            watcher.stop()
            self.engagement.stop()
            self.feeds.stop()
            self._finish_in_hand()
            # Not shutdown(wait=True): APScheduler holds its job store lock while it waits,
            # and a job that re-arms a timer would wait for that lock forever.
            self.scheduler.shutdown(wait=False)
            self.engine.close()
        log.info("stopped")
        return 0

    def _loop(self) -> None:
        """Until a stop signal: reload when asked, refresh and replan when due, ping systemd."""
        ping = self.notifier.watchdog_interval
        now = time.monotonic()
        next_ping = now if ping else math.inf
        next_refresh = now + self._refresh_every()
        next_replan = now + self.replan_every.total_seconds()
        while not self.wakeup.stop:
            now = time.monotonic()
            if now >= next_ping:
                # Only here: the ping says that this loop turns, not merely that a thread lives.
                self.notifier.watchdog()
                next_ping = now + ping  # type: ignore[operator]
            if now >= next_replan:
                self._rescan = self._reload = True
                next_replan = now + self.replan_every.total_seconds()
            if self.wakeup.hangup:
                self.wakeup.hangup = False
                self._rescan = self._reload = True
            if self._reload:
                # Cleared before the work: a request that comes meanwhile means one more turn.
                self._reload = False
                full = self._rescan
                if full:
                    self._rescan = False
                self._reload_now(full=full)
            if now >= next_refresh:
                self._refresh_safely()
                next_refresh = time.monotonic() + self._refresh_every()
            self.wakeup.wait(min(next_ping, next_refresh, next_replan) - time.monotonic())

    def _refresh_every(self) -> float:
        """Seconds between refreshes; on a shared ledger also a third of the lease, so that
        a dead daemon's claims are taken over soon after their lease runs out."""
        if not self.engine.ledger.shared:
            return self.refresh_every
        return min(self.refresh_every, self.engine.config.publishing.lease.total_seconds() / 3)

    def stop(self) -> None:
        """Stop warmly, as a first SIGTERM does (from any thread)."""
        self.wakeup.stop = True
        self.wakeup.wake()

    def request_reload(self, *, full: bool = True) -> None:
        """Re-read the queue soon (``full``: every file, not only those seen changing)."""
        if full:
            self._rescan = True
        self._reload = True
        self.wakeup.wake()

    def _changed(self, paths: set[str]) -> None:
        self.engine.cache.changed(paths)
        self.request_reload(full=False)

    def _reload_now(self, *, full: bool) -> None:
        if full:
            self.engine.cache.rescan_all()
        self.notifier.reloading()
        self._load()
        self.arm_all()
        self.engagement.arm()
        self.feeds.arm()
        self.notifier.ready(self.status_line())

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
        for delivery in self.timers.armed():
            if delivery not in keep:
                self.timers.cancel(delivery)
        self.arm(waiting)

    def arm(self, deliveries: list[Delivery]) -> None:
        accounts = self.engine.config.accounts
        for delivery in deliveries:
            when = self.engine.ledger.next_try(delivery, self._accounts)
            if delivery.account in accounts and accounts[delivery.account].paused:
                when = None  # `paused: true` in klapper.yaml
            if when is None:
                self.timers.cancel(delivery.id)
            else:
                self.timers.set(delivery.id, when=when, run=partial(self._fire, delivery.id))

    @property
    def armed(self) -> dict[str, datetime]:
        """Each armed delivery's id and when its timer fires."""
        return self.timers.armed()

    def _fire(self, delivery_id: str) -> None:
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
        if outcome is None and self.engine.ledger.shared and row and row.due <= self.engine.clock():
            # Another daemon had it: the refresh, a third of the lease apart, picks up what it
            # came to (an account's wait too); every daemon reading the accounts now is waste.
            return
        if row is not None:
            accounts = self.engine.ledger.accounts()
            changed = accounts.get(row.account) != self._accounts.get(row.account)
            self._accounts = accounts
            if changed:
                # A rate limit or a pause moves every waiting delivery of this account.
                self.arm(self.engine.ledger.waiting(account=row.account))
            elif (outcome is not None and outcome.event != "held") or row.due > self.engine.clock():
                self.arm([row])
            post = self.engine.publisher.posts.get(row.post_id) if self.engine.publisher else None
            if outcome is not None and outcome.event == "published" and post and post.evergreen:
                self.request_reload(full=False)  # plan its next time round now
            # Not claimable though due (taken by another process, post gone, held for an
            # error in the post): the next refresh or reload decides; re-arming would spin.
        self.notifier.status(self.status_line())

    def _refresh_safely(self) -> None:
        try:
            self.refresh()
        except Exception:
            log.exception("refreshing from the ledger failed")

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
        upcoming = min(self.armed.items(), key=lambda item: item[1], default=None)
        parts = []
        if upcoming is not None:
            row = self.engine.ledger.get(upcoming[0])
            local = upcoming[1].astimezone(self.engine.config.tz)
            if row is not None:
                parts.append(f"next: {row.post_id} to {row.account} at {local:%Y-%m-%d %H:%M %Z}")
        else:
            parts.append("nothing planned")
        failed = self.engine.ledger.final_failure_count()
        if failed:
            parts.append(f"{failed} failed")
        paused = [a.name for a in self._accounts.values() if a.paused_at is not None]
        if paused:
            parts.append(f"paused: {', '.join(paused)}")
        return "; ".join(parts)
