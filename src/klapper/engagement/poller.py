"""One polling round: read the reactions that are due and the new replies, per account.

Reactions are read in batches of as many posts as one request of the account's adapter reads
(``metrics_per_request``, else its platform's ``lookup_batch``), at most ``engagement.budget``
requests per account and round, oldest due first; what is left waits for the next round
(``engagement.min_gap`` later). Every request an adapter sends counts, where it counts them
(``requests_sent``): a server without the batch lookup costs one request per post. A rate
limit stops polling that account until the platform's reset, recorded in the engagement side's
own table: the publisher's account state is only read (a paused or waiting account is not
polled), never written.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from klapper.adapters import adapter_class
from klapper.adapters.base import (
    Adapter,
    AdapterError,
    AuthExpiredError,
    Metrics,
    RateLimitedError,
    TransientError,
)
from klapper.config.model import Config, format_duration
from klapper.config.platforms import PlatformError
from klapper.config.platforms import platform as describe
from klapper.engagement.attention import attention
from klapper.engagement.schedule import DueReading, due_for_round, next_due
from klapper.engagement.store import EngagementStore, InboxItem, Reading, posts_only
from klapper.engagement.visits import VisitsReport
from klapper.ledger import EventLog, Ledger, PublishedDelivery

log = logging.getLogger("klapper.engagement")

Clock = Callable[[], datetime]
Progress = Callable[[int, int], None]
#: account -> a lock held around each platform call (the publisher's, in the daemon)
AccountLock = Callable[[str], AbstractContextManager[object]]

#: how far back the first look at an account's replies and mentions reaches
FIRST_LOOK = timedelta(days=7)
#: each inbox read starts a little before the last one ended (clock skew, late indexing)
OVERLAP = timedelta(minutes=5)
#: an account whose calls fail (not a rate limit) is left alone this long
ERROR_PAUSE = timedelta(minutes=30)
#: a rate limit without a reset time is waited out this long
RATE_LIMIT_PAUSE = timedelta(minutes=15)


def utc_now() -> datetime:
    return datetime.now(UTC)


class _Meter:
    """What an adapter's calls cost: the requests it counted, else one per call."""

    def __init__(self, adapter: Adapter) -> None:
        self.adapter = adapter
        self.seen = adapter.requests_sent()

    def spent(self, *, calls: int) -> int:
        now = self.adapter.requests_sent()
        if now is None or self.seen is None:
            return calls
        spent, self.seen = now - self.seen, now
        return max(spent, calls)


def supports(platform: str, method: str) -> bool:
    """Whether the platform's adapter implements ``metrics`` or ``interactions`` at all."""
    try:
        cls = adapter_class(platform)
    except PlatformError:
        return False
    return getattr(cls, method) is not getattr(Adapter, method)


@dataclass
class RoundReport:
    """What one round did: readings stored, new inbox items, requests, what waits."""

    readings: list[Reading] = field(default_factory=list)
    new_items: list[InboxItem] = field(default_factory=list)
    requests: int = 0  # requests spent reading reactions (each metrics call, at least one)
    left: int = 0  # due readings left for the next round (budget, waits, errors)
    waiting: dict[str, datetime] = field(default_factory=dict)  # account -> until
    errors: dict[str, str] = field(default_factory=dict)  # account -> what went wrong
    #: account -> why readings or its inbox wait: paused, a rate limit, an error, the budget
    why: dict[str, str] = field(default_factory=dict)
    visits: VisitsReport | None = None  # the website's visits, when klapper.yaml has analytics


@dataclass(frozen=True)
class Block:
    """Why an account is not polled now, and until when (None: until someone resumes it)."""

    until: datetime | None
    reason: str


class Poller:
    """Runs polling rounds over the ledger's published deliveries."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        events: EventLog,
        config: Config,
        adapters: Callable[[str], Adapter],
        clock: Clock = utc_now,
        account_lock: AccountLock | None = None,
    ) -> None:
        self.ledger = ledger
        self.store = EngagementStore(ledger)
        self.events = events
        self.config = config
        self.adapters = adapters
        self.clock = clock
        # Adapters are shared with the publisher, which calls them one at a time per account.
        self.account_lock: AccountLock = account_lock or (lambda name: contextlib.nullcontext())
        #: set to end a round early (the daemon stopping); what was read is kept
        self.stopping = threading.Event()

    # --- which accounts ------------------------------------------------------------------

    def _blocked(self, now: datetime) -> dict[str, Block]:
        """Accounts not to poll now, with why and until when."""
        blocked: dict[str, Block] = {}
        for name, account in self.config.accounts.items():
            if account.paused:
                blocked[name] = Block(None, "paused in klapper.yaml")
        for name, state in self.ledger.accounts().items():
            if state.paused_at is not None:
                blocked[name] = Block(
                    None,
                    f"paused: {state.pause_reason or 'by the publisher'}"
                    f" (after `klapper login {name}`, run"
                    f" `klapper retry --account {name}`)",
                )
            elif state.wait_until is not None and state.wait_until > now:
                blocked[name] = Block(
                    state.wait_until,
                    "rate limited while publishing"
                    + (f": {state.wait_reason}" if state.wait_reason else ""),
                )
        for name, row in self.store.account_marks().items():
            until = row["wait_until"]
            if until and name not in blocked:
                moment = datetime.fromisoformat(until)
                if moment > now:
                    blocked[name] = Block(moment, row["wait_reason"] or "waiting")
        return blocked

    def _accounts(self, method: str) -> list[str]:
        return [
            name
            for name, account in self.config.accounts.items()
            if supports(account.platform, method)
        ]

    # --- one round -----------------------------------------------------------------------

    def run_round(
        self, *, progress: Progress | None = None, inbox: bool = True, look_now: bool = False
    ) -> RoundReport:
        """Take the readings that are due and read new replies; never raises for one account.

        ``look_now``: read every post still inside its polling window and the inbox now, not
        only what the schedule says is due (within the same budget; the schedule stays).
        """
        now = self.clock()
        report = RoundReport()
        blocked = self._blocked(now)
        published = posts_only(self.ledger.published_deliveries())
        due = due_for_round(
            published=published,
            taken=self.store.stages_taken(),
            schedule=self.config.engagement.schedule,
            now=now,
            look_now=look_now,
        )
        polled = set(self._accounts("metrics"))
        by_account: dict[str, list[DueReading]] = {}
        for item in due:
            if item.delivery.account in polled:
                by_account.setdefault(item.delivery.account, []).append(item)
        total, done = sum(len(items) for items in by_account.values()), 0
        for account, items in by_account.items():
            if self.stopping.is_set():
                report.left += len(items)
                continue
            if account in blocked:
                report.left += len(items)
                self._note_block(account, blocked[account], report)
                continue
            with self.ledger.try_lock(f"engagement:{account}") as mine:
                # A shared ledger: one round per account at a time, whichever daemon runs it.
                if not mine:
                    report.left += len(items)
                    report.why[account] = "another klapper is reading this account right now"
                    continue
                fresh = self._still_due(items)  # what that other round read is done
                taken = len(items) - len(fresh)
                taken += self._read_account(account, fresh, report) if fresh else 0
            done += len(items)
            report.left += len(items) - taken
            if taken < len(items) and account not in report.why and not self.stopping.is_set():
                report.why[account] = (
                    f"{len(items) - taken} readings wait for the next round: the budget of "
                    f"{self.config.engagement.budget} requests per round (engagement.budget)"
                    " is spent"
                )
            if progress is not None:
                progress(done, total)
        if inbox:
            for account in self._accounts("interactions"):
                if account in blocked:
                    self._note_block(account, blocked[account], report)
                    continue
                idle = account not in report.waiting
                wanted = look_now or self._inbox_due(account, now)
                if idle and not self.stopping.is_set() and wanted:
                    with self.ledger.try_lock(f"engagement:{account}") as mine:
                        if mine:
                            self._read_inbox(account, published, report)
        return report

    def _still_due(self, items: list[DueReading]) -> list[DueReading]:
        """Those of ``items`` no other process read meanwhile (a shared ledger)."""
        taken = self.store.stages_taken()
        return [i for i in items if taken.get((i.delivery.id, i.part), -1) < i.stage]

    @staticmethod
    def _note_block(account: str, block: Block, report: RoundReport) -> None:
        report.why[account] = block.reason
        if block.until is not None:
            report.waiting[account] = block.until

    def _read_account(self, account: str, items: list[DueReading], report: RoundReport) -> int:
        """Read reactions for ``items`` of one account within the budget; returns how many
        were stored."""
        # posts per request, the most the API takes, unless the adapter knows better
        default = describe(self.config.accounts[account].platform).lookup_batch
        budget = self.config.engagement.budget
        spent = stored = 0
        try:
            adapter = self.adapters(account)
        except Exception as exc:  # noqa: BLE001 - one account's trouble stops only it
            self._failed(account, exc, report)
            return 0
        meter = _Meter(adapter)
        while items and spent < budget and not self.stopping.is_set():
            size = default
            try:
                with self.account_lock(account):
                    size = adapter.metrics_per_request() or default
                    spent += meter.spent(calls=0)  # should it have asked the platform
                    if spent >= budget:
                        break
                    batch = items[:size]
                    found = adapter.metrics([item.remote_id for item in batch])
            except Exception as exc:  # noqa: BLE001 - one account's trouble stops only it
                spent += meter.spent(calls=1)
                if isinstance(exc, AdapterError) and self._fewer_per_request(adapter, size):
                    continue  # learnt that its server reads fewer posts per request
                self._failed(account, exc, report)
                break
            spent += meter.spent(calls=1)
            items = items[len(batch) :]
            stored += len(self._store(batch, found, report))
        report.requests += spent
        return stored

    def _fewer_per_request(self, adapter: Adapter, size: int) -> bool:
        try:
            return (adapter.metrics_per_request() or size) < size
        except Exception:  # noqa: BLE001 - the error in hand is the one to report
            return False

    def _store(
        self, batch: Sequence[DueReading], found: Sequence[Metrics], report: RoundReport
    ) -> list[Reading]:
        now = self.clock()
        by_id = {m.remote_id: m for m in found}
        readings = []
        for item in batch:
            metrics = by_id.get(item.remote_id)
            figures = (
                {}
                if metrics is None
                else {
                    name: getattr(metrics, name)
                    for name in ("likes", "reposts", "replies", "quotes", "bookmarks", "views")
                }
            )
            readings.append(
                Reading(
                    delivery_id=item.delivery.id,
                    part=item.part,
                    remote_id=item.remote_id,
                    account=item.delivery.account,
                    platform=item.delivery.platform,
                    stage=item.stage,
                    taken_at=now,
                    found=metrics is not None,
                    **figures,
                )
            )
        added = self.store.add_readings(readings)
        deliveries = {item.delivery.id: item.delivery for item in batch}
        for reading in added:
            # Figures the platform does not give stay out of the event (absent, never 0).
            self.events.emit(
                "engagement",
                delivery=deliveries[reading.delivery_id],
                now=now,
                part=reading.part,
                remote_id=reading.remote_id,
                stage=format_duration(timedelta(seconds=reading.stage)),
                found=None if reading.found else False,
                **reading.figures(),
            )
        report.readings += added
        return added

    def _failed(self, account: str, exc: Exception, report: RoundReport) -> None:
        """Stop polling ``account`` for a while; its publishing state is left alone."""
        now = self.clock()
        if isinstance(exc, RateLimitedError):
            hint = timedelta(seconds=exc.retry_after) if exc.retry_after else RATE_LIMIT_PAUSE
            until = exc.until or now + hint
            reason = f"rate limited while reading: {exc}"
            log.info("%s: %s; reading again after %s", account, reason, until.isoformat())
        else:
            until = now + ERROR_PAUSE
            if isinstance(exc, AuthExpiredError):
                reason = f"credential refused while reading: {exc}"
                if "klapper login" not in reason:
                    reason += f" (run `klapper login {account}`)"
            elif isinstance(exc, TransientError | AdapterError):
                reason = f"reading failed: {exc}"
            else:
                log.error("%s: unexpected error while reading", account, exc_info=exc)
                reason = f"reading failed unexpectedly: {type(exc).__name__}: {exc}"
            log.warning("%s: %s; trying again after %s", account, reason, until.isoformat())
            report.errors[account] = reason
        self.store.set_account(account, now=now, wait_until=until, wait_reason=reason)
        report.waiting[account] = until
        report.why[account] = reason

    # --- the inbox -----------------------------------------------------------------------

    def _inbox_due(self, account: str, now: datetime) -> bool:
        row = self.store.account_marks().get(account)
        checked = row["inbox_checked_at"] if row else None
        return (
            checked is None
            or datetime.fromisoformat(checked) + self.config.engagement.inbox_every <= now
        )

    def _read_inbox(
        self, account: str, published: Sequence[PublishedDelivery], report: RoundReport
    ) -> None:
        now = self.clock()
        row = self.store.account_marks().get(account)
        checked = row["inbox_checked_at"] if row else None
        since = datetime.fromisoformat(checked) - OVERLAP if checked else now - FIRST_LOOK
        # Replies are looked for under posts as old as the last reading (older ones are quiet).
        window = now - max(self.config.engagement.schedule, default=timedelta(days=30))
        owners = {
            part_id: entry.delivery.id
            for entry in published
            if entry.delivery.account == account
            and entry.delivery.published_at
            and entry.delivery.published_at >= window
            for part_id in entry.remote_ids
        }
        try:
            adapter = self.adapters(account)
            with self.account_lock(account):
                found = adapter.interactions(since=since, own_ids=list(owners))
        except Exception as exc:  # noqa: BLE001 - one account's trouble stops only it
            self._failed(account, exc, report)
            return
        marks = {
            item.remote_id: attention(item.text, rating=item.rating)
            for item in found
            if not item.by_self
        }
        new = self.store.add_interactions(
            account=account,
            platform=self.config.accounts[account].platform,
            found=found,
            owners=owners,
            attention=marks,
            now=now,
        )
        self.store.set_account(account, now=now, inbox_checked_at=now)
        report.new_items += new

    # --- when next -----------------------------------------------------------------------

    def next_round(self, *, last_round: datetime | None = None) -> datetime | None:
        """When a round has something to do (not before ``last_round + min_gap``); None: never.

        Per account: its next due reading or inbox read, but not before its wait ends;
        a paused account counts only once someone resumes it.
        """
        now = self.clock()
        blocked = self._blocked(now)
        soonest = next_due(
            published=posts_only(self.ledger.published_deliveries()),
            taken=self.store.stages_taken(),
            schedule=self.config.engagement.schedule,
        )
        marks = self.store.account_marks()
        polled, inboxed = set(self._accounts("metrics")), set(self._accounts("interactions"))
        times = []
        for account in polled | inboxed:
            if account in blocked and blocked[account].until is None:
                continue
            own = [soonest[account]] if account in polled and account in soonest else []
            if account in inboxed:
                checked = marks[account]["inbox_checked_at"] if account in marks else None
                own.append(
                    datetime.fromisoformat(checked) + self.config.engagement.inbox_every
                    if checked
                    else now
                )
            if own:
                wait = blocked[account].until if account in blocked else None
                times.append(max(min(own), wait) if wait else min(own))
        if not times:
            return None
        earliest = min(times)
        if last_round is not None:
            earliest = max(earliest, last_round + self.config.engagement.min_gap)
        return earliest
