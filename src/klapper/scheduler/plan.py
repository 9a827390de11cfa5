"""When each delivery is due: one-off times, cron repeats and free posting slots, in time order."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from itertools import takewhile

from klapper.config.model import WEEKDAYS, Config
from klapper.queue.model import PlannedDelivery, Post
from klapper.timing import TimeError, occurrences, parse_cron, wall_clock

# A repeating post yields at most this many occurrences per call: a runaway cron expression
# ("* * * * *" over a long catch-up window) must not stall the planner.
MAX_OCCURRENCES = 10_000


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("plan_deliveries needs aware datetimes (e.g. datetime.now(UTC))")
    return value.astimezone(UTC)


def _minute(value: datetime) -> datetime:
    return value.replace(second=0, microsecond=0)


def repeat_times(post: Post, *, config: Config, start: datetime, end: datetime) -> list[datetime]:
    """The occurrences (aware UTC) of a repeating post within [start, end], in order.

    ``count`` counts from the post's ``start``, so the same occurrences come out whatever
    window is asked for; ``until`` is inclusive.
    """
    assert post.every is not None
    try:
        cron = parse_cron(post.every)
    except TimeError:
        return []  # loading already reported it; such a post never reaches here
    first = _utc(post.start) if post.start is not None else start
    last = min(end, _utc(post.until)) if post.until is not None else end
    found: list[datetime] = []
    for number, instant in enumerate(
        takewhile(lambda t: t <= last, occurrences(cron, config.tz, after=first)), 1
    ):
        if post.count is not None and number > post.count:
            break
        if instant >= start:
            found.append(instant)
            if len(found) >= MAX_OCCURRENCES:
                break
    return found


def slot_times(config: Config, *, start: datetime, end: datetime) -> Iterator[datetime]:
    """Every posting slot (aware UTC) within [start, end], in order (see timing.wall_clock)."""
    if not config.slots:
        return
    tz = config.tz
    day: date = start.astimezone(tz).date() - timedelta(days=1)
    last_day = end.astimezone(tz).date() + timedelta(days=1)
    previous = None
    while day <= last_day:
        clocks = config.slots.get(WEEKDAYS[day.weekday()], ())  # type: ignore[call-overload]
        for instant in sorted({wall_clock(day, clock, tz) for clock in clocks}):
            if start <= instant <= end and instant != previous:
                previous = instant
                yield instant
        day += timedelta(days=1)


def plan_deliveries(
    *,
    config: Config,
    posts: Sequence[Post],
    start: datetime,
    end: datetime,
    assigned_slots: Mapping[str, datetime] | None = None,
    taken: Collection[datetime] = (),
    slots_from: datetime | None = None,
) -> list[PlannedDelivery]:
    """Every delivery due within [start, end] (both inclusive), sorted by (due, post, account).

    - ``at`` posts: one delivery per account when ``at`` lies in the window.
    - ``every`` posts: one per occurrence per account; ``occurrence`` is the UTC ISO time.
    - Posts with no time take the free posting slots in order of file path, then position in
      the file (the order of ``posts``, as load_repository returns them). A slot is taken by
      any timed post due in that minute, by a time in ``taken`` (aware; e.g. slots of posts
      published earlier), and by ``assigned_slots`` (post id -> aware time the ledger already
      gave that post, which the post keeps even if it is no longer a slot time).
    - New slot posts fill slots from ``slots_from`` (default ``start``) on: pass "now" when
      ``start`` reaches back for catch-up, so that a new post is not placed in the past.
    - Drafts are left out; so are posts whose slot lies beyond ``end`` (not yet placed).

    Times are compared as aware datetimes; deliveries carry aware UTC ``due`` times.
    """
    start, end = _utc(start), _utc(end)
    fill_from = _utc(slots_from) if slots_from is not None else start
    assigned = {post_id: _utc(t) for post_id, t in (assigned_slots or {}).items()}
    planned: list[PlannedDelivery] = []
    occupied = {_minute(_utc(t)) for t in taken}
    occupied.update(_minute(t) for t in assigned.values())
    waiting: list[Post] = []
    for post in posts:
        if post.draft:
            continue
        if post.at is not None:
            due = _utc(post.at)
            occupied.add(_minute(due))
            if start <= due <= end:
                planned += _deliveries(post, due, note=post.at_note)
        elif post.every is not None:
            for due in repeat_times(post, config=config, start=start, end=end):
                occupied.add(_minute(due))
                planned += _deliveries(post, due, occurrence=due.isoformat())
        elif post.id in assigned:
            due = assigned[post.id]
            if start <= due <= end:
                planned += _deliveries(post, due, slotted=True)
        else:
            waiting.append(post)
    if waiting:
        free = (
            t
            for t in slot_times(config, start=max(start, fill_from), end=end)
            if _minute(t) not in occupied
        )
        for post, due in zip(waiting, free, strict=False):
            planned += _deliveries(post, due, slotted=True)
    planned.sort()
    return planned


def _deliveries(
    post: Post,
    due: datetime,
    *,
    occurrence: str = "",
    slotted: bool = False,
    note: str | None = None,
) -> list[PlannedDelivery]:
    return [
        PlannedDelivery(
            due=due,
            post_id=post.id,
            account=account,
            occurrence=occurrence,
            slotted=slotted,
            note=note,
        )
        for account in post.to
    ]
