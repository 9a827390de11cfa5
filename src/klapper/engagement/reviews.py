"""Reviews in the report: per account, how many came in the period and the rating over time.

A review is an inbox item of kind "review" with its stars (``InboxItem.rating``).
The rating over time is by local week (from Monday): the reviews of that week, their mean, and
the mean of all the period's reviews up to that week's end, the figure a profile shows moving.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta, tzinfo
from typing import Any

from klapper.engagement.store import InboxItem


@dataclass(frozen=True)
class ReviewWeek:
    """One local week (starting on Monday) of one account's reviews."""

    week: date
    reviews: int
    mean: float | None  # of this week's reviews; None without any
    running_mean: float | None  # of the period's reviews up to this week's end

    def to_json(self) -> dict[str, Any]:
        return {
            "week": self.week.isoformat(),
            "reviews": self.reviews,
            "mean": self.mean,
            "running_mean": self.running_mean,
        }


@dataclass(frozen=True)
class ReviewStats:
    """One account's reviews in the report's period."""

    account: str
    platform: str
    reviews: int
    mean: float | None
    weeks: tuple[ReviewWeek, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "platform": self.platform,
            "reviews": self.reviews,
            "mean": self.mean,
            "weeks": [w.to_json() for w in self.weeks],
        }


def _mean(values: Sequence[int]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def review_stats(items: Sequence[InboxItem], *, tz: tzinfo) -> list[ReviewStats]:
    """Per account with reviews in ``items`` (oldest or newest first, either)."""
    by_account: dict[str, list[tuple[date, int]]] = {}
    platforms: dict[str, str] = {}
    for item in items:
        rating = item.rating if item.kind == "review" else None
        if rating is None or item.by_self:
            continue
        day = item.created_at.astimezone(tz).date()
        by_account.setdefault(item.account, []).append(
            (day - timedelta(days=day.weekday()), rating)
        )
        platforms[item.account] = item.platform
    found = []
    for account in sorted(by_account):
        ratings = sorted(by_account[account])
        weeks, seen = [], []
        week = ratings[0][0]
        while week <= ratings[-1][0]:
            this = [r for w, r in ratings if w == week]
            seen += this
            weeks.append(ReviewWeek(week, len(this), _mean(this), _mean(seen)))
            week += timedelta(days=7)
        everything = [r for _, r in ratings]
        found.append(
            ReviewStats(
                account, platforms[account], len(everything), _mean(everything), tuple(weeks)
            )
        )
    return found
