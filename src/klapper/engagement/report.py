"""The engagement report's figures: per account, top posts, best weekdays and hours, over time.

A post's reactions are its latest reading (summed over a thread's parts; the platforms count a
thread's own follow-ups as replies, so those are taken off its replies). Its score is
likes + reposts + replies + quotes + bookmarks, the figures it has (views are shown but not
scored: not every platform gives them). Weekdays and hours are local time in klapper.yaml's
time zone; a weekday's or hour's figure is the mean score of the posts published then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from klapper.config.model import Config
from klapper.engagement.attribution import TagsOf
from klapper.engagement.funnel import Funnels, build_funnels
from klapper.engagement.response import ResponseTimes, response_times
from klapper.engagement.reviews import ReviewStats, review_stats
from klapper.engagement.store import FIGURES, EngagementStore, InboxItem, Reading, posts_only
from klapper.engagement.visits_store import VisitsStore
from klapper.ledger import Ledger, PublishedDelivery
from klapper.ledger.states import utc_text

#: the figures that make a post's score
SCORED: tuple[str, ...] = ("likes", "reposts", "replies", "quotes", "bookmarks")
WEEKDAYS: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
TOP = 10


def add(a: int | None, b: int | None) -> int | None:
    """Sum where absent stays absent: None + None is None, None + 3 is 3."""
    return b if a is None else a if b is None else a + b


def score(figures: Mapping[str, int | None]) -> int:
    return sum(figures.get(name) or 0 for name in SCORED)


@dataclass(frozen=True)
class PostStats:
    """One published delivery with its latest known reactions."""

    delivery: str
    post: str
    account: str
    platform: str
    published_at: datetime
    first_line: str
    url: str | None
    figures: dict[str, int | None]
    inbox_replies: int

    @property
    def score(self) -> int:
        return score(self.figures)

    def to_json(self, tz: tzinfo) -> dict[str, Any]:
        local = self.published_at.astimezone(tz)
        return {
            "delivery": self.delivery,
            "post": self.post,
            "account": self.account,
            "platform": self.platform,
            "published_at": utc_text(self.published_at),
            "published_local": local.isoformat(),
            "first_line": self.first_line,
            "url": self.url,
            **self.figures,
            "score": self.score,
            "inbox_replies": self.inbox_replies,
        }


@dataclass(frozen=True)
class AccountStats:
    """One account's totals over the report's period."""

    account: str
    platform: str
    posts: int
    figures: dict[str, int | None]
    inbox_replies: int
    inbox_mentions: int
    open_items: int

    @property
    def score(self) -> int:
        return score(self.figures)

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "platform": self.platform,
            "posts": self.posts,
            "reactions": self.figures,
            "score": self.score,
            "replies": self.inbox_replies,
            "mentions": self.inbox_mentions,
            "unanswered": self.open_items,
        }


@dataclass(frozen=True)
class Slot:
    """A weekday or an hour: how many posts went out then and their mean score."""

    label: str
    posts: int
    mean_score: float


@dataclass
class Report:
    """Everything `klapper report` shows, in every format."""

    since: datetime
    until: datetime
    tz: tzinfo
    accounts: list[AccountStats] = field(default_factory=list)
    posts: list[PostStats] = field(default_factory=list)
    weekdays: list[Slot] = field(default_factory=list)
    hours: list[Slot] = field(default_factory=list)
    timeline: dict[str, list[tuple[date, int]]] = field(default_factory=dict)  # platform ->
    reviews: list[ReviewStats] = field(default_factory=list)  # accounts with reviews
    funnels: Funnels = field(default_factory=Funnels)  # reach -> reactions -> visits -> goals
    response: list[ResponseTimes] = field(default_factory=list)  # platforms with inbox items

    @property
    def top(self) -> list[PostStats]:
        ranked = sorted(self.posts, key=lambda p: (-p.score, -p.published_at.timestamp()))
        return [p for p in ranked if p.score > 0][:TOP]

    def to_json(self) -> dict[str, Any]:
        return {
            "since": utc_text(self.since),
            "until": utc_text(self.until),
            "timezone": str(self.tz),
            "accounts": [a.to_json() for a in self.accounts],
            "top_posts": [p.to_json(self.tz) for p in self.top],
            "weekdays": [vars(s) for s in self.weekdays],
            "hours": [vars(s) for s in self.hours],
            "timeline": {
                platform: [{"date": d.isoformat(), "score": v} for d, v in series]
                for platform, series in self.timeline.items()
            },
            "reviews": [r.to_json() for r in self.reviews],
            "funnel": self.funnels.to_json(),
            "response_times": [r.to_json() for r in self.response],
        }


def _latest(readings: Iterable[Reading]) -> dict[tuple[str, int], Reading]:
    """(delivery, part) -> its latest reading in which the platform found the post."""
    latest: dict[tuple[str, int], Reading] = {}
    for reading in readings:  # oldest first
        if reading.found:
            latest[(reading.delivery_id, reading.part)] = reading
    return latest


def own_replies(published: Iterable[PublishedDelivery]) -> dict[str, int]:
    """Delivery -> replies that are its own thread parts: each part after the first answers
    an earlier one (the previous part, or the first on LinkedIn), and platforms count them."""
    return {entry.delivery.id: len(entry.parts) - 1 for entry in published if len(entry.parts) > 1}


def post_figures(readings: Iterable[Reading], *, own: int) -> dict[str, int | None]:
    """A post's figures: its parts' readings summed, without its ``own`` follow-up replies."""
    figures: dict[str, int | None] = dict.fromkeys(FIGURES)
    for reading in readings:
        figures = {k: add(figures[k], v) for k, v in reading.figures().items()}
    if own and figures["replies"] is not None:
        figures["replies"] = max(figures["replies"] - own, 0)
    return figures


def _slots(posts: Sequence[PostStats], labels: Sequence[str], key: Any) -> list[Slot]:
    buckets: dict[int, list[int]] = {n: [] for n in range(len(labels))}
    for post in posts:
        buckets[key(post)].append(post.score)
    return [
        Slot(labels[n], len(scores), round(sum(scores) / len(scores), 2) if scores else 0.0)
        for n, scores in buckets.items()
    ]


def _timeline(
    posts: Sequence[PostStats],
    readings: Sequence[Reading],
    *,
    since: datetime,
    until: datetime,
    tz: tzinfo,
    own: Mapping[str, int],
) -> dict[str, list[tuple[date, int]]]:
    """Per platform and local day: the reactions known by that day's end (all posts)."""
    platform_of = {p.delivery: p.platform for p in posts}
    days: list[date] = []
    day = since.astimezone(tz).date()
    while day <= until.astimezone(tz).date():
        days.append(day)
        day += timedelta(days=1)
    ends = [datetime.combine(d + timedelta(days=1), time(0), tz) for d in days]
    series: dict[str, list[int]] = {p: [0] * len(days) for p in sorted(set(platform_of.values()))}
    known: dict[str, dict[int, Reading]] = {}  # delivery -> part -> latest reading so far
    position = 0
    ordered = [r for r in readings if r.found and r.delivery_id in platform_of]
    for index, end in enumerate(ends):
        while position < len(ordered) and ordered[position].taken_at < end:
            reading = ordered[position]
            known.setdefault(reading.delivery_id, {})[reading.part] = reading
            position += 1
        for delivery, parts in known.items():
            figures = post_figures(parts.values(), own=own.get(delivery, 0))
            series[platform_of[delivery]][index] += score(figures)
    return {platform: list(zip(days, values, strict=True)) for platform, values in series.items()}


def build_report(
    *,
    ledger: Ledger,
    since: datetime,
    until: datetime,
    tz: tzinfo,
    platforms: Mapping[str, str] | None = None,
    config: Config | None = None,
    tags: TagsOf | None = None,
) -> Report:
    """The report over deliveries published from ``since`` to ``until``; ``config`` and
    ``tags`` (the tags each delivery was sent with) tell how campaign tags name posts (visits
    are matched by post id and platform without them)."""
    store = EngagementStore(ledger)
    published = [
        p
        for p in posts_only(ledger.published_deliveries(since=since))
        if p.delivery.published_at and p.delivery.published_at <= until
    ]
    readings = store.readings(since=since)
    latest = _latest(readings)
    items = store.inbox_items(since=since)
    replies_to: dict[str, int] = {}
    for item in items:
        if item.delivery_id and not item.by_self:
            replies_to[item.delivery_id] = replies_to.get(item.delivery_id, 0) + 1
    parts: dict[str, list[Reading]] = {}
    for (delivery, _), reading in latest.items():
        parts.setdefault(delivery, []).append(reading)
    own = own_replies(published)
    posts = []
    for entry in published:
        d = entry.delivery
        figures = post_figures(parts.get(d.id, ()), own=own.get(d.id, 0))
        posts.append(
            PostStats(
                delivery=d.id,
                post=d.post_id,
                account=d.account,
                platform=d.platform,
                published_at=d.published_at,  # type: ignore[arg-type]
                first_line=d.first_line,
                url=d.url,
                figures=figures,
                inbox_replies=replies_to.get(d.id, 0),
            )
        )
    report = Report(since=since, until=until, tz=tz, posts=posts)
    report.accounts = _accounts(posts, items, platforms or {})
    report.weekdays = _slots(posts, WEEKDAYS, lambda p: p.published_at.astimezone(tz).weekday())
    report.hours = _slots(
        posts, [f"{h:02d}" for h in range(24)], lambda p: p.published_at.astimezone(tz).hour
    )
    report.timeline = _timeline(posts, readings, since=since, until=until, tz=tz, own=own)
    report.reviews = review_stats([i for i in items if i.created_at <= until], tz=tz)
    report.funnels = build_funnels(
        posts=posts,
        published=published,
        rows=VisitsStore(ledger).rows(),
        config=config,
        tags=tags,
        platforms=platforms,
    )
    report.response = response_times(items, until=until)
    return report


def _accounts(
    posts: Sequence[PostStats], items: Sequence[InboxItem], platforms: Mapping[str, str]
) -> list[AccountStats]:
    names = sorted({p.account for p in posts} | {i.account for i in items} | set(platforms))
    found = []
    for name in names:
        own = [p for p in posts if p.account == name]
        inbox = [i for i in items if i.account == name and not i.by_self]
        figures: dict[str, int | None] = dict.fromkeys(FIGURES)
        for post in own:
            figures = {k: add(figures[k], v) for k, v in post.figures.items()}
        platform = (
            own[0].platform if own else inbox[0].platform if inbox else platforms.get(name, "?")
        )
        found.append(
            AccountStats(
                account=name,
                platform=platform,
                posts=len(own),
                figures=figures,
                inbox_replies=sum(i.kind == "reply" for i in inbox),
                inbox_mentions=sum(i.kind == "mention" for i in inbox),
                open_items=sum(i.open for i in inbox),
            )
        )
    return found
