"""plan_deliveries: one-off, repeating and slot posts in time order (scheduler.plan)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from klapper.queue import load_repository
from klapper.scheduler.plan import plan_deliveries
from tests.queue.repo_helpers import CONFIG, make_repo

MONDAY = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)  # 2026-06-01 is a Monday


def _plan(root: Path, **kwargs):
    repo = load_repository(root)
    assert [p for p in repo.problems if p.severity == "error"] == []
    kwargs.setdefault("start", MONDAY)
    kwargs.setdefault("end", MONDAY + timedelta(days=7))
    return plan_deliveries(config=repo.config, posts=repo.posts, **kwargs)


def test_at_every_and_drafts(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        {
            "posts/at.yaml": "text: a\nat: 2026-06-02 10:00\nto: [outbox, masto]\n",
            "posts/late.yaml": "text: b\nat: 2026-07-02 10:00\n",
            "posts/draft.yaml": "text: c\nat: 2026-06-02 11:00\ndraft: true\n",
            "posts/rep.yaml": "text: d\nevery: '0 8 * * *'\nstart: 2026-06-03 00:00\ncount: 2\n",
        },
    )
    plan = _plan(root)
    assert [(d.post_id, d.account, d.due.isoformat(), d.occurrence) for d in plan] == [
        ("posts/at.yaml", "masto", "2026-06-02T08:00:00+00:00", ""),
        ("posts/at.yaml", "outbox", "2026-06-02T08:00:00+00:00", ""),
        ("posts/rep.yaml", "outbox", "2026-06-03T06:00:00+00:00", "2026-06-03T06:00:00+00:00"),
        ("posts/rep.yaml", "outbox", "2026-06-04T06:00:00+00:00", "2026-06-04T06:00:00+00:00"),
    ]


def test_count_counts_from_start_whatever_the_window(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        {
            "posts/rep.yaml": "text: d\nevery: '0 8 * * *'\nstart: 2026-05-30 00:00\ncount: 4\n",
            "posts/until.yaml": "text: e\nevery: '0 12 * * *'\nuntil: 2026-06-02 12:00\n",
        },
    )
    plan = _plan(root)
    assert [d.due.day for d in plan if d.post_id == "posts/rep.yaml"] == [1, 2]
    assert [d.due.day for d in plan if d.post_id == "posts/until.yaml"] == [1, 2]


def test_slots_fill_in_file_order_and_skip_taken_ones(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        {
            "posts/b.yaml": "- text: b1\n- text: b2\n",
            "posts/a.yaml": "text: a\n",
            "posts/timed.yaml": "text: t\nat: 2026-06-01 15:00\n",  # takes Monday 15:00
            "posts/c.yaml": "text: c\n",
        },
    )
    plan = _plan(root)
    local = [
        (
            d.post_id,
            d.due.astimezone(load_repository(root).config.tz).strftime("%a %H:%M"),
            d.slotted,
        )
        for d in plan
    ]
    assert local == [
        ("posts/a.yaml", "Mon 09:00", True),
        ("posts/timed.yaml", "Mon 15:00", False),
        ("posts/b.yaml#1", "Tue 09:00", True),
        ("posts/b.yaml#2", "Wed 09:00", True),
        ("posts/c.yaml", "Thu 09:00", True),
    ]


def test_assigned_slots_are_kept_and_taken_times_skipped(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        {"posts/a.yaml": "text: a\n", "posts/b.yaml": "text: b\n", "posts/c.yaml": "text: c\n"},
    )
    kept = datetime(2026, 6, 3, 7, 0, tzinfo=UTC)  # Wed 09:00 Berlin, assigned earlier
    plan = _plan(
        root, assigned_slots={"posts/b.yaml": kept}, taken=[datetime(2026, 6, 1, 7, 0, tzinfo=UTC)]
    )  # Mon 09:00 used before
    assert [(d.post_id, d.due) for d in plan] == [
        ("posts/a.yaml", datetime(2026, 6, 1, 13, 0, tzinfo=UTC)),  # Mon 15:00
        ("posts/c.yaml", datetime(2026, 6, 2, 7, 0, tzinfo=UTC)),  # Tue 09:00
        ("posts/b.yaml", kept),
    ]


def test_slots_from_keeps_new_posts_out_of_the_catch_up_past(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {"posts/a.yaml": "text: a\n"})
    now = MONDAY + timedelta(days=2)  # Wednesday 00:00 UTC
    plan = _plan(root, start=now - timedelta(days=3), end=now + timedelta(days=1), slots_from=now)
    assert [d.due for d in plan] == [datetime(2026, 6, 3, 7, 0, tzinfo=UTC)]


def test_ambiguous_time_note_reaches_the_plan(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {"posts/a.yaml": "text: a\nat: 2026-10-25 02:30\n"})
    (delivery,) = _plan(
        root, start=datetime(2026, 10, 24, tzinfo=UTC), end=datetime(2026, 10, 26, tzinfo=UTC)
    )
    assert delivery.due == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert delivery.note and "happens twice" in delivery.note


def test_runaway_repeat_is_capped(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {"posts/a.yaml": "text: a\nevery: '* * * * *'\n"})
    plan = _plan(root, start=MONDAY, end=MONDAY + timedelta(days=3650))
    assert len(plan) == 10_000


@pytest.mark.parametrize(
    "zone, until, last_utc",
    [
        # The day the clocks go back: 25 hours long, its 23:30 is CET (UTC+1).
        ("Europe/Berlin", "2027-10-31", datetime(2027, 10, 31, 22, 30, tzinfo=UTC)),
        # The day the clocks go forward: 23 hours long, its 23:30 is CEST (UTC+2).
        ("Europe/Berlin", "'2027-03-28'", datetime(2027, 3, 28, 21, 30, tzinfo=UTC)),
        ("America/New_York", "2027-11-07", datetime(2027, 11, 8, 4, 30, tzinfo=UTC)),
        ("America/New_York", "2027-03-14", datetime(2027, 3, 15, 3, 30, tzinfo=UTC)),
        ("America/New_York", "2027-11-05", datetime(2027, 11, 6, 3, 30, tzinfo=UTC)),
    ],
)
def test_until_a_date_means_through_that_local_day(
    tmp_path: Path, zone: str, until: str, last_utc: datetime
) -> None:
    root = make_repo(
        tmp_path,
        {
            "posts/rep.yaml": f"text: r\nevery: '30 23 * * *'\nuntil: {until}\n",
        },
        config=CONFIG.replace("Europe/Berlin", zone),
    )
    plan = _plan(root, start=last_utc - timedelta(days=3), end=last_utc + timedelta(days=3))
    dues = [d.due for d in plan]
    assert dues[-1] == last_utc  # none in the three days after
    assert timedelta(hours=23) <= dues[-1] - dues[-2] <= timedelta(hours=25)


@pytest.mark.parametrize(
    "zone, start, first_utc",
    [
        ("Europe/Berlin", "2027-03-28", datetime(2027, 3, 27, 23, 15, tzinfo=UTC)),
        ("Europe/Berlin", "2027-10-31", datetime(2027, 10, 30, 22, 15, tzinfo=UTC)),
        ("America/New_York", "2027-03-14", datetime(2027, 3, 14, 5, 15, tzinfo=UTC)),
        ("America/New_York", "2027-11-07", datetime(2027, 11, 7, 4, 15, tzinfo=UTC)),
    ],
)
def test_start_a_date_means_from_the_beginning_of_that_local_day(
    tmp_path: Path, zone: str, start: str, first_utc: datetime
) -> None:
    root = make_repo(
        tmp_path,
        {
            "posts/rep.yaml": f"text: r\nevery: '15 0 * * *'\nstart: {start}\ncount: 2\n",
        },
        config=CONFIG.replace("Europe/Berlin", zone),
    )
    plan = _plan(root, start=first_utc - timedelta(days=3), end=first_utc + timedelta(days=3))
    first, second = (d.due for d in plan)  # none in the three days before
    assert first == first_utc
    assert timedelta(hours=23) <= second - first <= timedelta(hours=25)
