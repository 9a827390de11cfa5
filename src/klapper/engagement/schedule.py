"""When reactions are read: the decaying schedule (1 h, 6 h, 1 d, ... after publishing).

A reading is due once its age is reached and no reading of that age (or a later one) was
taken. One reading answers every stage that has come due meanwhile (after downtime, the 1 h
and 6 h stages are covered by one reading stored as the 6 h one); after the last stage,
nothing more is read. A person who wants to look now (`klapper refresh --now`) gets one
reading of every part still inside its window (``readings_now``), which leaves the schedule
as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from klapper.ledger import Delivery, PublishedDelivery


@dataclass(frozen=True)
class DueReading:
    """One part of one delivery whose reactions are to be read now."""

    delivery: Delivery
    part: int
    remote_id: str
    stage: int  # the latest stage (seconds after publishing) that has come due
    due_at: datetime  # when the earliest untaken stage came due (oldest first)


def stages(schedule: Iterable[timedelta]) -> tuple[int, ...]:
    """The schedule as sorted, distinct whole seconds."""
    return tuple(sorted({int(age.total_seconds()) for age in schedule}))


def _parts(published: Sequence[PublishedDelivery]) -> Iterable[tuple[Delivery, int, str, datetime]]:
    for entry in published:
        delivery = entry.delivery
        if entry.parts:
            for part in entry.parts:
                yield delivery, part.part, part.remote_id, part.published_at
        elif delivery.remote_id and delivery.published_at:
            yield delivery, 0, delivery.remote_id, delivery.published_at


def due_readings(
    *,
    published: Sequence[PublishedDelivery],
    taken: Mapping[tuple[str, int], int],
    schedule: Sequence[timedelta],
    now: datetime,
) -> list[DueReading]:
    """Every part with a stage come due and not yet read, the longest overdue first."""
    ages = stages(schedule)
    due = []
    for delivery, part, remote_id, base in _parts(published):
        last = taken.get((delivery.id, part), -1)
        passed = [age for age in ages if age > last and base + timedelta(seconds=age) <= now]
        if passed:
            due.append(
                DueReading(
                    delivery,
                    part,
                    remote_id,
                    stage=passed[-1],
                    due_at=base + timedelta(seconds=passed[0]),
                )
            )
    return sorted(due, key=lambda d: (d.due_at, d.delivery.id, d.part))


def readings_now(
    *,
    published: Sequence[PublishedDelivery],
    taken: Mapping[tuple[str, int], int],
    schedule: Sequence[timedelta],
    now: datetime,
) -> list[DueReading]:
    """One reading now of every part whose last stage is still ahead (or due, not taken).

    A part with a stage come due is read as that stage, as a round would; any other is read
    as its age in seconds, which lies below its next stage: that stage still comes due.
    """
    ages = stages(schedule)
    due = {
        (d.delivery.id, d.part): d
        for d in due_readings(published=published, taken=taken, schedule=schedule, now=now)
    }
    found = list(due.values())
    for delivery, part, remote_id, base in _parts(published):
        age = int((now - base).total_seconds())
        if (
            (delivery.id, part) not in due
            and ages
            and 0 <= age < ages[-1]
            and taken.get((delivery.id, part), -1) < age
        ):
            found.append(DueReading(delivery, part, remote_id, stage=age, due_at=now))
    return sorted(found, key=lambda d: (d.due_at, d.delivery.id, d.part))


def due_for_round(
    *,
    published: Sequence[PublishedDelivery],
    taken: Mapping[tuple[str, int], int],
    schedule: Sequence[timedelta],
    now: datetime,
    look_now: bool,
) -> list[DueReading]:
    """A round's readings: what is due (``due_readings``), or with ``look_now`` one of every
    part still inside its window (``readings_now``)."""
    pick = readings_now if look_now else due_readings
    return pick(published=published, taken=taken, schedule=schedule, now=now)


def next_due(
    *,
    published: Sequence[PublishedDelivery],
    taken: Mapping[tuple[str, int], int],
    schedule: Sequence[timedelta],
) -> dict[str, datetime]:
    """Per account, when its next reading comes due (it may lie in the past: due now)."""
    ages = stages(schedule)
    soonest: dict[str, datetime] = {}
    for delivery, part, _, base in _parts(published):
        last = taken.get((delivery.id, part), -1)
        upcoming = [age for age in ages if age > last]
        if upcoming:
            when = base + timedelta(seconds=upcoming[0])
            if delivery.account not in soonest or when < soonest[delivery.account]:
                soonest[delivery.account] = when
    return soonest
