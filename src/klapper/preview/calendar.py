"""The preview's calendar: the weeks of the period, Monday to Sunday, in klapper.yaml's zone.

A delivery sits on its local day (a post at 23:30 UTC is on the next day in Berlin), and a
day whose UTC offset changes (the clocks go forward or back) says so, so that a reviewer
sees why a post at 02:30 on that day is marked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from klapper.timing import day_bound

from .model import PostView, Preview, deliveries_by_day
from .text import safe

WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
#: posts listed in one day's cell; the rest are counted (every post has its card below)
MAX_PER_DAY = 12


@dataclass(frozen=True)
class Day:
    day: date
    in_period: bool
    entries: tuple[tuple[datetime, PostView, tuple[str, ...]], ...]  # (local due, post, accounts)
    clock_change: str | None  # "clocks go back 1 h (UTC+02:00 → UTC+01:00)"


def _offset(value: timedelta) -> str:
    minutes = int(value.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def clock_change(day: date, tz: tzinfo) -> str | None:
    """What happens to the clocks during ``day`` in ``tz`` (None: nothing)."""
    before = day_bound(day, tz, end=False).utcoffset()
    after = day_bound(day, tz, end=True).utcoffset()
    if before is None or after is None or before == after:
        return None
    shift = after - before
    minutes = abs(int(shift.total_seconds())) // 60
    amount = f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"
    way = "forward" if shift > timedelta(0) else "back"
    return f"clocks go {way} {amount} ({_offset(before)} → {_offset(after)})"


def weeks(preview: Preview) -> list[list[Day]]:
    """Whole weeks from the one holding the period's start to the one holding its end."""
    tz = preview.config.tz
    first, last = preview.start.astimezone(tz).date(), preview.end.astimezone(tz).date()
    by_day = deliveries_by_day(preview)
    day = first - timedelta(days=first.weekday())
    found: list[list[Day]] = []
    while day <= last:
        week = []
        for _ in range(7):
            week.append(
                Day(day, first <= day <= last, tuple(by_day.get(day, ())), clock_change(day, tz))
            )
            day += timedelta(days=1)
        found.append(week)
    return found


def _week_row(week: list[Day], *, today: date, anchors: dict[str, str]) -> str:
    cells = []
    for day in week:
        classes = ["day"]
        if not day.in_period:
            classes.append("outside")
        if day.day == today:
            classes.append("today")
        label = f"{day.day:%-d %b}" if day.day.day == 1 or day is week[0] else f"{day.day:%-d}"
        shown_entries = day.entries[:MAX_PER_DAY]
        items = "".join(
            f'<li class="entry{" has-error" if _has_error(view, accounts) else ""}" '
            f'title="{safe(view.post.first_line)}">'
            f'<a href="#{anchors[view.post.id]}"><time datetime="{local.isoformat()}">'
            f"{local:%H:%M}</time> "
            f'<span class="who">{safe(", ".join(accounts))}</span> '
            f'<span class="what">{safe(view.post.first_line or view.post.id)}</span></a></li>'
            for local, view, accounts in shown_entries
        )
        if len(day.entries) > MAX_PER_DAY:
            items += f'<li class="more">+ {len(day.entries) - MAX_PER_DAY} more</li>'
        change = (
            f'<div class="clock-change">{safe(day.clock_change)}</div>' if day.clock_change else ""
        )
        cells.append(
            f'<td class="{" ".join(classes)}" data-date="{day.day.isoformat()}">'
            f'<div class="date">{label}</div>{change}'
            f"{f'<ul>{items}</ul>' if items else ''}</td>"
        )
    return f"<tr>{''.join(cells)}</tr>"


def _gap_row(quiet: list[list[Day]]) -> str:
    """Weeks without a post, as one row (a year's preview stays short); clock changes kept."""
    first, last = quiet[0][0].day, quiet[-1][-1].day
    changes = "".join(
        f'<div class="clock-change">{day.day:%a %-d %b}: {safe(day.clock_change)}</div>'
        for week in quiet
        for day in week
        if day.clock_change
    )
    return (
        f'<tr class="gap"><td colspan="7" data-from="{first.isoformat()}" '
        f'data-until="{last.isoformat()}">{len(quiet)} weeks without posts: '
        f"{first:%-d %b} – {last:%-d %b %Y}{changes}</td></tr>"
    )


def render_calendar(preview: Preview, *, anchors: dict[str, str]) -> str:
    """The calendar as an HTML table; each entry links to its post's card (``anchors``).

    Two or more weeks in a row without a post (after the first week) become one row.
    """
    today = preview.generated.astimezone(preview.config.tz).date()
    head = "".join(f"<th>{name}</th>" for name in WEEKDAY_NAMES)
    rows: list[str] = []
    quiet: list[list[Day]] = []

    def flush() -> None:
        if len(quiet) == 1:
            rows.append(_week_row(quiet[0], today=today, anchors=anchors))
        elif quiet:
            rows.append(_gap_row(quiet))
        quiet.clear()

    for number, week in enumerate(weeks(preview)):
        if number and not any(day.entries for day in week):
            quiet.append(week)
            continue
        flush()
        rows.append(_week_row(week, today=today, anchors=anchors))
    flush()
    return (
        f'<table class="calendar"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _has_error(view: PostView, accounts: tuple[str, ...]) -> bool:
    return any(d.errors for d in view.deliveries if d.account in accounts)
