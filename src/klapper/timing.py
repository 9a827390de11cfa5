"""Local wall-clock time: parsing what users write, DST gaps and overlaps, and cron repeats.

Rules (documented for users in docs/content.md):

- A naive time is local time in klapper.yaml's zone. One that does not exist (the hour the clocks
  skip in spring) is an error naming the valid times around the gap. One that exists twice (the
  hour repeated in autumn) means the first of the two, and the post says so (``at_note``).
- A bare date is a whole local day where a bound is meant: ``start: 2027-06-01`` from the
  day's first instant, ``until: 2027-11-05`` through its last (DST days are 23 or 25 hours
  long). Where a moment is meant (``at``), a bare date is an error.
- A cron repeat (``every``) fires at most once per local wall-clock time: a time inside the spring
  gap moves forward by the gap (02:30 -> 03:30), a time inside the autumn overlap fires once, at
  the first of its two instants. So a daily 02:30 yields exactly one delivery every day.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal

_MINUTE = timedelta(minutes=1)
# Far enough for any real schedule, and far from datetime's limits (no overflow near them).
YEARS = (1970, 9000)


class TimeError(ValueError):
    """A time a user wrote cannot be used; the message says why and what to write instead."""


# --- single times ---------------------------------------------------------------------------


def _exists(naive: datetime, tz: tzinfo) -> bool:
    aware = naive.replace(tzinfo=tz, fold=0)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive


def _ambiguous(naive: datetime, tz: tzinfo) -> bool:
    first, second = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    return first.utcoffset() != second.utcoffset() and _exists(naive, tz)


def _gap_bounds(naive: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """The last existing minute before a gap and the first one after it (local, naive)."""
    before = naive.replace(second=0, microsecond=0)
    while not _exists(before, tz):
        before -= _MINUTE
    after = naive.replace(second=0, microsecond=0) + _MINUTE
    while not _exists(after, tz):
        after += _MINUTE
    return before, after


def localize(naive: datetime, tz: tzinfo, *, zone_name: str) -> tuple[datetime, str | None]:
    """A naive local time -> (aware time, note); TimeError for a time the clocks skip."""
    aware = naive.replace(tzinfo=tz, fold=0)
    if aware.utcoffset() == naive.replace(tzinfo=tz, fold=1).utcoffset():
        return aware, None  # the common case: no clock change at this time
    if not _exists(naive, tz):
        before, after = _gap_bounds(naive, tz)
        raise TimeError(
            f"{naive:%Y-%m-%d %H:%M} does not exist in {zone_name}: the clocks jump from "
            f"{before + _MINUTE:%H:%M} to {after:%H:%M} that day (daylight saving time); "
            f"write {before:%H:%M} or {after:%H:%M} instead"
        )
    aware = naive.replace(tzinfo=tz, fold=0)
    if _ambiguous(naive, tz):
        later = naive.replace(tzinfo=tz, fold=1)
        return aware, (
            f"{naive:%Y-%m-%d %H:%M} happens twice in {zone_name} (clocks go back); "
            f"using the first, {aware:%H:%M %Z} ({aware.isoformat()[-6:]}), not "
            f"{later:%H:%M %Z} ({later.isoformat()[-6:]})"
        )
    return aware, None


def day_bound(day: date, tz: tzinfo, *, end: bool) -> datetime:
    """A local day's first instant, or (``end``) its last, aware in ``tz`` (see wall_clock)."""
    if end:
        return (
            wall_clock(day + timedelta(days=1), time(0), tz) - timedelta(microseconds=1)
        ).astimezone(tz)
    return wall_clock(day, time(0), tz).astimezone(tz)


def parse_time(
    value: object, tz: tzinfo, *, zone_name: str, whole_day: Literal["start", "end"] | None = None
) -> tuple[datetime, str | None]:
    """What YAML gave for a point in time -> (aware datetime in ``tz``, note or None).

    Accepts a datetime (YAML made one when seconds were written), or a string: ISO 8601 with or
    without offset, with or without seconds, with a space or ``T``. A bare date is the start
    or the end of that local day as ``whole_day`` says; without it, an error (a post needs a
    time of day).
    """
    day: date | None = None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed, day = datetime.combine(value, time(0)), value
    elif isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text.replace(" ", "T", 1) if " " in text else text)
        except ValueError:
            parsed = _parse_spaced_offset(text)
        if len(text) == 10 and parsed.time() == time(0) and "T" not in text.upper():
            day = parsed.date()
    else:
        raise TimeError(f"expected a date and time such as 2026-06-02 09:00, got {value!r}")
    if not YEARS[0] <= parsed.year <= YEARS[1]:
        raise TimeError(
            f"year {parsed.year} is out of range; klapper plans {YEARS[0]} to {YEARS[1]}"
        )
    if day is not None:
        if whole_day is None:
            raise TimeError(f"{day.isoformat()} has no time of day; write e.g. {day} 09:00")
        return day_bound(day, tz, end=whole_day == "end"), None
    if parsed.tzinfo is None:
        return localize(parsed, tz, zone_name=zone_name)
    return parsed.astimezone(tz), None


_SPACED = re.compile(r"^(.+?\d)\s+(Z|[+-]\d{2}:?\d{2})$")


def _parse_spaced_offset(text: str) -> datetime:
    # "2026-06-02 10:00 +02:00" (a space before the offset) is what people write too.
    match = _SPACED.match(text)
    if match:
        try:
            return datetime.fromisoformat(f"{match[1].replace(' ', 'T', 1)}{match[2]}")
        except ValueError:
            pass
    raise TimeError(
        f"{text!r} is not a date and time; write 2026-06-02 09:00 (local time) "
        "or 2026-06-02T09:00+02:00 (with offset)"
    )


# --- cron -----------------------------------------------------------------------------------

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {
    n: i
    for i, n in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_DAYS = {n: i for i, n in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# name, lowest, highest, names
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)


def _number(token: str, low: int, high: int, names: dict[str, int], field: str) -> int:
    value = names.get(token.lower()) if not token.isdigit() else int(token)
    if value is None or not low <= value <= high:
        raise TimeError(f"cron {field} {token!r} is not in {low}-{high}")
    return value


def _parse_field(text: str, index: int) -> frozenset[int]:
    field, low, high, names = _FIELDS[index]
    values: set[int] = set()
    for item in text.split(","):
        body, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise TimeError(f"cron {field} step {step_text!r} must be a positive number")
            step = int(step_text)
        if body == "*":
            first, last = low, high
        elif "-" in body:
            a, _, b = body.partition("-")
            first, last = (_number(t, low, high, names, field) for t in (a, b))
            if first > last:
                raise TimeError(f"cron {field} range {body!r} runs backwards")
        else:
            first = _number(body, low, high, names, field)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    if index == 4 and 7 in values:  # 7 is Sunday too
        values = (values - {7}) | {0}
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    """A parsed five-field cron expression (minute hour day-of-month month day-of-week).

    Standard cron meaning: day of week 0 or 7 is Sunday; names (MON, JAN) work; when both day
    of month and day of week are restricted, a day matching either one fires (as in Vixie cron).
    """

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    def matches_date(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return dom and dow
        return dom or dow

    def times(self) -> list[time]:
        return [time(h, m) for h in sorted(self.hours) for m in sorted(self.minutes)]


@functools.lru_cache(maxsize=1024)  # the planner asks again on every rescan
def parse_cron(expression: str) -> Cron:
    """Parse a cron expression or macro (@daily, @weekly ...); TimeError says what is wrong."""
    text = str(expression).strip()
    fields = _MACROS.get(text.lower(), text).split()
    if len(fields) != 5:
        raise TimeError(
            f"cron expression {text!r} has {len(fields)} fields, needs 5: minute hour "
            'day-of-month month day-of-week, e.g. "0 9 * * MON" (Mondays at 09:00)'
        )
    parsed = [_parse_field(f, i) for i, f in enumerate(fields)]
    if (
        fields[2] != "*"
        and fields[4] == "*"
        and not any(day <= _MONTH_DAYS[month - 1] for month in parsed[3] for day in parsed[2])
    ):
        raise TimeError(f"cron expression {text!r} never fires: no such day in those months")
    return Cron(
        expression=text,
        minutes=parsed[0],
        hours=parsed[1],
        days=parsed[2],
        months=parsed[3],
        weekdays=parsed[4],
        any_day=fields[2] == "*",
        any_weekday=fields[4] == "*",
    )


def wall_clock(day: date, clock: time, tz: tzinfo) -> datetime:
    """The instant (UTC) of a local wall-clock time; gap times move forward, overlaps take the first.

    ``fold=0`` on a skipped time uses the offset before the jump, which lands exactly one gap
    length later (02:30 -> 03:30 CEST); on a repeated time it is the first instant.
    """
    return datetime.combine(day, clock).replace(tzinfo=tz, fold=0).astimezone(UTC)


def occurrences(cron: Cron, tz: tzinfo, *, after: datetime) -> Iterator[datetime]:
    """Every instant (aware UTC, ascending, no repeats) the cron fires at or after ``after``."""
    day = after.astimezone(tz).date() - timedelta(days=1)  # a gap shift may cross midnight
    clocks = cron.times()
    last = after - _MINUTE
    while day.year < 9999:
        if cron.matches_date(day):
            # A gap shift can make two wall times meet (02:30 -> 03:30 = 03:30): once only.
            for instant in sorted({wall_clock(day, clock, tz) for clock in clocks}):
                if instant > last:
                    last = instant
                    yield instant
        day += timedelta(days=1)
