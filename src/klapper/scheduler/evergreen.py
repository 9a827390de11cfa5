"""Evergreen posts: back into the slot queue after they went out, spaced and capped.

A post with ``evergreen: {every: 8w}`` goes out once as usual (its ``at``, or a free slot);
each time after that is a recurrence with its own deliveries, occurrence ``evergreen:N``
(N = 1, 2, ...), so the ledger's "never twice" holds for each. Only the next recurrence of a
post is planned, once every delivery of the one before has settled:

- it takes the first free posting slot at or after the last time it went out plus ``every``,
  and never before now: after downtime a missed recurrence is not made up for, the post simply
  takes the next free slot (a planned one whose time passed beyond the catch-up window is
  moved there too);
- never the same content to one account within ``every`` of another time it went (or will
  go) there, whatever post it came from;
- at most ``evergreen › per_day`` recurrences per account per local day (default 1);
- posts waiting longest go first, so several evergreen posts take turns evenly;
- one placed keeps its slot (new posts go around it), as slotted posts do.

``plan`` asks for a projection (``chain``): each recurrence placed is assumed to go out at its
time and the next one is placed after it, up to the end of the window.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from klapper.config.model import Config
from klapper.ledger import ON_PLATFORM, Delivery, State
from klapper.ledger.queries import EVERGREEN, LedgerQueries
from klapper.queue.model import PlannedDelivery, Post
from klapper.scheduler.plan import plan_deliveries, slot_times

_OPEN = (State.PLANNED, State.CLAIMED, State.UNKNOWN, State.FAILED)


def recurrence(number: int) -> str:
    """The occurrence of an evergreen post's ``number``-th recurrence (0: its first time)."""
    return f"{EVERGREEN}{number}" if number else ""


def recurrence_number(occurrence: str) -> int | None:
    """0 for a one-off occurrence, N for ``evergreen:N``, None for a cron repeat's."""
    if occurrence == "":
        return 0
    if occurrence.startswith(EVERGREEN) and occurrence[len(EVERGREEN) :].isdigit():
        return int(occurrence[len(EVERGREEN) :])
    return None


def evergreen_label(occurrence: str) -> str | None:
    """How `plan` and `status` mark a time round: ``evergreen #N``; None for any other."""
    number = recurrence_number(occurrence)
    return f"evergreen #{number}" if number else None


def _open(row: Delivery) -> bool:
    """Still to go out by itself (or being published, or its outcome not known yet)."""
    return row.state in _OPEN and not (row.state is State.FAILED and row.retry_at is None)


def _every(post: Post) -> timedelta:
    assert post.evergreen is not None
    return post.evergreen


def _went_out(row: Delivery) -> datetime:
    """When ``row`` went (or goes) out: the later of its time and its publishing time, so a
    platform's clock running early, or a `publish --now` ahead of time, only adds spacing."""
    return max(row.due, row.published_at) if row.published_at is not None else row.due


def _minute(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(second=0, microsecond=0)


@dataclass(order=True)
class _Waiting:
    earliest: datetime
    since: datetime  # when it last went out: the longest waiting goes first on a tie
    order: int
    number: int


class EvergreenPlanner:
    """Plans evergreen recurrences of ``posts`` from what the ledger knows (``rows``:
    Ledger.evergreen_context) at ``now``."""

    def __init__(
        self,
        *,
        config: Config,
        posts: Sequence[Post],
        rows: Iterable[Delivery],
        now: datetime,
        chain: bool = False,
    ) -> None:
        self.config, self.now, self.chain = config, now, chain
        self.tz = config.tz
        self.posts = [p for p in posts if p.evergreen is not None and not p.draft]
        self.rows = list(rows)
        self.kept: list[PlannedDelivery] = []
        self._waiting: list[tuple[Post, _Waiting]] = []
        self._moved: set[str] = set()  # rows of recurrences whose slot passed: placed anew
        self._decide()

    # --- what each post waits for ------------------------------------------------------------

    def hashes(self) -> set[str]:
        return {self._hash(post, account) for post in self.posts for account in self._to(post)}

    def _to(self, post: Post) -> tuple[str, ...]:
        return tuple(a for a in post.to if a in self.config.accounts)

    def _hash(self, post: Post, account: str) -> str:
        return post.content_hash(account, self.config.accounts[account].platform)

    def _decide(self) -> None:
        by_post: dict[str, dict[int, list[Delivery]]] = defaultdict(lambda: defaultdict(list))
        for row in self.rows:
            number = recurrence_number(row.occurrence)
            if number is not None and row.state is not State.CANCELLED:
                by_post[row.post_id][number].append(row)
        late = self.now - self.config.defaults.catch_up
        for order, post in enumerate(self.posts):
            numbers = by_post.get(post.id, {})
            went = [_went_out(r) for rs in numbers.values() for r in rs if r.state in ON_PLATFORM]
            last_out = max(went, default=None)
            if not numbers:
                continue  # its first time is the ordinary planner's (plan() chains from it)
            number = max(numbers)
            rows = numbers[number]
            if any(_open(r) for r in rows):
                if number == 0:
                    continue  # its first time is still ahead: the ordinary planner's
                planned = [r for r in rows if r.state is State.PLANNED]
                if len(planned) == len(rows) and min(r.due for r in rows) < late:
                    # Its slot passed while klapper was down: the next free slot, not a burst.
                    self._moved.update(r.id for r in rows)
                    self._wait(post, order, number, self.now, last_out)
                    continue
                due = min(r.due for r in rows)
                self.kept += self._deliveries(post, number, due)
                if self.chain:
                    self._wait(post, order, number + 1, due + _every(post), due)
            elif last_out is not None:
                earliest = max(last_out + _every(post), self.now)
                self._wait(post, order, number + 1, earliest, last_out)
            # Never went out (missed, failed for good): it does not come round by itself.

    def _wait(
        self, post: Post, order: int, number: int, earliest: datetime, since: datetime | None
    ) -> None:
        self._waiting.append((post, _Waiting(earliest, since or earliest, order, number)))

    def _deliveries(self, post: Post, number: int, due: datetime) -> list[PlannedDelivery]:
        return [
            PlannedDelivery(
                due=due,
                post_id=post.id,
                account=account,
                occurrence=recurrence(number),
                slotted=True,
            )
            for account in self._to(post)
        ]

    # --- placing ---------------------------------------------------------------------------

    def place(
        self,
        *,
        planned: Sequence[PlannedDelivery],
        taken: Collection[datetime] = (),
        end: datetime,
    ) -> list[PlannedDelivery]:
        """The recurrences that get a slot up to ``end``, around ``planned`` (every other
        delivery in the window, ``kept`` among them) and ``taken`` (slots held by others)."""
        occupied = {_minute(t) for t in taken} | {_minute(d.due) for d in planned}
        per_day: Counter[tuple[str, date]] = Counter()
        sent: dict[tuple[str, str], list[datetime]] = defaultdict(list)
        hashes = self.hashes()
        for row in self.rows:
            if row.id not in self._moved and (row.state in ON_PLATFORM or _open(row)):
                when = _went_out(row)
                if recurrence_number(row.occurrence) not in (None, 0):
                    per_day[row.account, when.astimezone(self.tz).date()] += 1
                if row.content_hash in hashes:
                    sent[row.account, row.content_hash].append(when)
        order = {post.id: (index, post) for index, post in enumerate(self.posts)}
        chained: set[str] = set()
        for d in planned:
            if d.post_id not in order or d.occurrence != "":
                continue
            index, post = order[d.post_id]  # its first time, still ahead
            sent[d.account, self._hash(post, d.account)].append(d.due)
            if self.chain and post.id not in chained:
                chained.add(post.id)
                self._wait(post, index, 1, d.due + _every(post), d.due)
        placed: list[PlannedDelivery] = []
        heap = [(waiting, index) for index, (_, waiting) in enumerate(self._waiting)]
        posts = [post for post, _ in self._waiting]
        heapq.heapify(heap)
        while heap:
            waiting, index = heapq.heappop(heap)
            post = posts[index]
            due = self._slot(post, waiting.earliest, end, occupied, per_day, sent)
            if due is None:
                continue  # beyond the window: a later sync places it
            occupied.add(_minute(due))
            for account in self._to(post):
                per_day[account, due.astimezone(self.tz).date()] += 1
                sent[account, self._hash(post, account)].append(due)
            placed += self._deliveries(post, waiting.number, due)
            if self.chain:
                later = _Waiting(due + _every(post), due, waiting.order, waiting.number + 1)
                heapq.heappush(heap, (later, index))
        return placed

    def _slot(
        self,
        post: Post,
        earliest: datetime,
        end: datetime,
        occupied: set[datetime],
        per_day: Counter[tuple[str, date]],
        sent: dict[tuple[str, str], list[datetime]],
    ) -> datetime | None:
        every = _every(post)
        accounts = self._to(post)
        for due in slot_times(self.config, start=earliest, end=end):
            day = due.astimezone(self.tz).date()
            if _minute(due) in occupied:
                continue
            if any(per_day[a, day] >= self.config.evergreen.per_day for a in accounts):
                continue
            if any(
                abs(due - other) < every
                for a in accounts
                for other in sent.get((a, self._hash(post, a)), ())
            ):
                continue
            return due
        return None


def evergreen_planner(
    *,
    config: Config,
    posts: Sequence[Post],
    now: datetime,
    ledger: LedgerQueries | None,
    chain: bool = False,
) -> EvergreenPlanner | None:
    """The planner for ``posts``' evergreen ones, with what ``ledger`` knows (None: there are
    none)."""
    ever = [p for p in posts if p.evergreen is not None and not p.draft]
    if not ever:
        return None
    planner = EvergreenPlanner(config=config, posts=ever, rows=(), now=now, chain=chain)
    if ledger is None:
        return planner
    rows = ledger.evergreen_context(
        post_ids={p.id for p in ever},
        hashes=planner.hashes(),
        since=now - timedelta(days=2),  # the per-day cap looks at today's only
    )
    return EvergreenPlanner(config=config, posts=ever, rows=rows, now=now, chain=chain)


def planned_with_evergreen(
    *,
    config: Config,
    posts: Sequence[Post],
    now: datetime,
    end: datetime,
    assigned_slots: Mapping[str, datetime],
    ledger: LedgerQueries | None,
) -> list[PlannedDelivery]:
    """What `klapper plan` shows: every delivery from ``now`` to ``end``, with the evergreen
    recurrences projected (each assumed to go out at its time)."""
    planner = evergreen_planner(config=config, posts=posts, now=now, ledger=ledger, chain=True)
    taken = [d.due for d in planner.kept] if planner is not None else []
    planned = plan_deliveries(
        config=config,
        posts=posts,
        start=now,
        end=end,
        assigned_slots=assigned_slots,
        taken=taken,
    )
    if planner is not None:
        planned += [d for d in planner.kept if now <= d.due <= end]
        planned += planner.place(planned=planned, taken=taken, end=end)
        planned.sort()
    return planned
