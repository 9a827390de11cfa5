"""How fast the accounts answer, per platform: median and 90th percentile time to answer.

Of the replies, mentions and reviews that came in during the report's period (not the
account's own), those answered (from klapper or on the platform, whichever the inbox saw
first) count with the time from their arrival on the platform to the answer. Items marked done
without an answer are left out; those still open are counted as waiting. The 90th percentile
is the nearest rank: 90 of 100 answers came at least this fast.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from klapper.engagement.store import InboxItem


@dataclass(frozen=True)
class ResponseTimes:
    """One platform's answers in the period."""

    platform: str
    answered: int
    waiting: int  # came in during the period and still open
    median_seconds: float | None  # None without any answer
    p90_seconds: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "answered": self.answered,
            "waiting": self.waiting,
            "median_seconds": self.median_seconds,
            "p90_seconds": self.p90_seconds,
        }


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (``share`` 0.9: the 90th) of non-empty ``values``."""
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)), 1) - 1]


def response_times(items: Sequence[InboxItem], *, until: datetime) -> list[ResponseTimes]:
    """Per platform with items in ``items`` (created in the period), sorted by platform."""
    delays: dict[str, list[float]] = {}
    waiting: dict[str, int] = {}
    for item in items:
        if item.by_self or item.created_at > until:
            continue
        delays.setdefault(item.platform, [])
        if item.answered_at is not None:
            seconds = (item.answered_at - item.created_at).total_seconds()
            delays[item.platform].append(max(seconds, 0.0))
        elif item.open:
            waiting[item.platform] = waiting.get(item.platform, 0) + 1
    return [
        ResponseTimes(
            platform=platform,
            answered=len(found),
            waiting=waiting.get(platform, 0),
            median_seconds=round(statistics.median(found), 1) if found else None,
            p90_seconds=round(percentile(found, 0.9), 1) if found else None,
        )
        for platform, found in sorted(delays.items())
    ]


def duration(seconds: float | None) -> str:
    """A time to answer for people: "45 min", "3 h 10 min", "2 d 4 h"; "–" for none."""
    if seconds is None:
        return "–"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
