"""Local times and cron repeats across daylight-saving changes (scheduler.timing)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from klapper.timing import TimeError, localize, occurrences, parse_cron, parse_time

# (zone, spring-forward day, autumn day) in 2026
DST = [
    ("Europe/Berlin", date(2026, 3, 29), date(2026, 10, 25)),
    ("America/New_York", date(2026, 3, 8), date(2026, 11, 1)),
]


@pytest.mark.parametrize(("zone", "spring", "autumn"), DST)
def test_daily_0230_fires_once_every_day_across_both_changes(zone, spring, autumn) -> None:
    tz = ZoneInfo(zone)
    for change in (spring, autumn):
        after = datetime.combine(change - timedelta(days=3), datetime.min.time(), tz)
        fired = list(islice(occurrences(parse_cron("30 2 * * *"), tz, after=after), 7))
        days = [t.astimezone(tz).date() for t in fired]
        assert days == [change - timedelta(days=3) + timedelta(days=i) for i in range(7)]
        local = {t.astimezone(tz).date(): t.astimezone(tz).strftime("%H:%M") for t in fired}
        # in the gap the time moves forward by the gap; in the overlap it fires once
        assert local[change] == ("03:30" if change == spring else "02:30")
        assert all(v == "02:30" for d, v in local.items() if d != change)


@pytest.mark.parametrize(("zone", "spring", "autumn"), DST)
def test_hourly_has_no_duplicates_or_gaps_in_utc(zone, spring, autumn) -> None:
    tz = ZoneInfo(zone)
    for change in (spring, autumn):
        after = datetime.combine(change, datetime.min.time(), tz)
        fired = list(islice(occurrences(parse_cron("0 * * * *"), tz, after=after), 30))
        assert len(set(fired)) == 30 and fired == sorted(fired)


def test_cron_syntax() -> None:
    assert parse_cron("0 9 * * MON-FRI").weekdays == {1, 2, 3, 4, 5}
    assert parse_cron("0 9 * * 7").weekdays == {0}
    assert parse_cron("*/15 8-10/2 1,15 jan,JUL *").minutes == {0, 15, 30, 45}
    assert parse_cron("@weekly").weekdays == {0}
    for bad, fragment in [
        ("0 9 * *", "has 4 fields"),
        ("60 * * * *", "not in 0-59"),
        ("0 9 * * FUN", "'FUN'"),
        ("0 0 30 2 *", "never fires"),
        ("5-1 * * * *", "runs backwards"),
        ("*/0 * * * *", "step"),
    ]:
        with pytest.raises(TimeError, match=fragment):
            parse_cron(bad)


def test_day_of_month_or_day_of_week_as_in_cron() -> None:
    tz = ZoneInfo("UTC")
    fired = list(
        islice(
            occurrences(parse_cron("0 12 13 * FRI"), tz, after=datetime(2026, 2, 1, tzinfo=UTC)), 4
        )
    )
    assert [t.date() for t in fired] == [
        date(2026, 2, 6),
        date(2026, 2, 13),
        date(2026, 2, 20),
        date(2026, 2, 27),
    ]


def test_parse_time_forms() -> None:
    tz = ZoneInfo("America/New_York")
    expected = datetime(2026, 7, 1, 13, 0, tzinfo=UTC)
    for value in (
        "2026-07-01 09:00",
        "2026-07-01T09:00",
        "2026-07-01 09:00:00",
        "2026-07-01T13:00Z",
        datetime(2026, 7, 1, 9, 0),
    ):
        at, note = parse_time(value, tz, zone_name="America/New_York")
        assert at == expected and note is None
    with pytest.raises(TimeError, match="write 01:59 or 03:00"):
        localize(datetime(2026, 3, 8, 2, 15), tz, zone_name="America/New_York")
    for bad in ("tomorrow", 1234, "2026-07-01"):
        with pytest.raises(TimeError):
            parse_time(bad, tz, zone_name="America/New_York")


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)),
    st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"]),
)
def test_localize_round_trips_or_explains(naive: datetime, zone: str) -> None:
    tz = ZoneInfo(zone)
    try:
        aware, _note = localize(naive, tz, zone_name=zone)
    except TimeError as exc:
        assert "does not exist" in str(exc)
        return
    assert aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive
