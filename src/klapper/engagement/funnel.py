"""What the posts brought: reach, then reactions, then visits, then goals, with the rates.

Reach is the views the platforms count (absent where none does); reactions the report's
score; visits, visitors and goals come from the website's analytics (``engagement.visits``),
matched to posts and deliveries by ``engagement.attribution``. Per post, every visit of its
campaign counts; per platform and per account, only visits whose source names one of their
deliveries. Visits are None (not 0) while the ledger holds no visits at all: no analytics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from klapper.config.model import Config
from klapper.engagement.attribution import Attribution, TagsOf
from klapper.engagement.visits_store import VisitRow
from klapper.ledger import PublishedDelivery


class PostStats(Protocol):
    """What the funnel reads of one of the report's published deliveries."""

    @property
    def delivery(self) -> str: ...
    @property
    def post(self) -> str: ...
    @property
    def account(self) -> str: ...
    @property
    def platform(self) -> str: ...
    @property
    def first_line(self) -> str: ...
    @property
    def url(self) -> str | None: ...
    @property
    def figures(self) -> Mapping[str, int | None]: ...
    @property
    def score(self) -> int: ...


#: the funnel's steps, in order
STEPS: tuple[str, ...] = ("reach", "reactions", "visits", "goals")
#: the rates between them: name -> (numerator, denominator)
RATES: dict[str, tuple[str, str]] = {
    "reactions_per_reach": ("reactions", "reach"),
    "visits_per_reach": ("visits", "reach"),
    "visits_per_reaction": ("visits", "reactions"),
    "goals_per_visit": ("goals", "visits"),
}
BEST = 10


def _add(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else a + b


@dataclass
class Funnel:
    """One post's, platform's or account's way from reach to goals."""

    name: str
    platform: str | None = None
    deliveries: int = 0
    reach: int | None = None
    reactions: int = 0
    visits: int | None = None
    visitors: int | None = None
    goals: int | None = None
    first_line: str = ""
    url: str | None = None

    def rate(self, name: str) -> float | None:
        """A rate between two steps; None when either is unknown or the base is 0."""
        top, base = (getattr(self, step) for step in RATES[name])
        return None if top is None or not base else round(top / base, 4)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            **({"platform": self.platform} if self.platform else {}),
            "deliveries": self.deliveries,
            "reach": self.reach,
            "reactions": self.reactions,
            "visits": self.visits,
            "visitors": self.visitors,
            "goals": self.goals,
            **{name: self.rate(name) for name in RATES},
        }


@dataclass
class Funnels:
    """The report's funnels: in all, per post, per platform, per account."""

    total: Funnel = field(default_factory=lambda: Funnel("all posts"))
    posts: list[Funnel] = field(default_factory=list)
    platforms: list[Funnel] = field(default_factory=list)
    accounts: list[Funnel] = field(default_factory=list)
    deliveries: dict[str, Funnel] = field(default_factory=dict)  # delivery id -> its own
    measured: bool = False  # the ledger holds visits: visits and goals are known (maybe 0)

    @property
    def best_by_visits(self) -> list[Funnel]:
        ranked = sorted(self.posts, key=lambda f: (-(f.visits or 0), -(f.goals or 0), f.name))
        return [f for f in ranked if f.visits][:BEST]

    def to_json(self) -> dict[str, Any]:
        return {
            "measured": self.measured,
            "total": self.total.to_json(),
            "posts": [f.to_json() for f in self.posts],
            "platforms": [f.to_json() for f in self.platforms],
            "accounts": [f.to_json() for f in self.accounts],
            "best_by_visits": [f.to_json() for f in self.best_by_visits],
        }


def _grouped(
    posts: Sequence[PostStats], key: Callable[[PostStats], str], measured: bool
) -> dict[str, Funnel]:
    found: dict[str, Funnel] = {}
    for post in posts:
        funnel = found.setdefault(key(post), Funnel(key(post), platform=post.platform))
        funnel.deliveries += 1
        funnel.reach = _add(funnel.reach, post.figures.get("views"))
        funnel.reactions += post.score
        if measured:
            funnel.visits = funnel.visits or 0
            funnel.goals = funnel.goals or 0
        if not funnel.first_line:
            funnel.first_line, funnel.url = post.first_line, post.url
    return found


def _count(funnel: Funnel, row: VisitRow) -> None:
    funnel.visits = (funnel.visits or 0) + row.row.visits
    funnel.visitors = _add(funnel.visitors, row.row.visitors)
    funnel.goals = _add(funnel.goals, row.row.goals) or 0


def build_funnels(
    *,
    posts: Sequence[PostStats],
    published: Iterable[PublishedDelivery],
    rows: Sequence[VisitRow],
    config: Config | None,
    platforms: Mapping[str, str] | None = None,
    tags: TagsOf | None = None,
) -> Funnels:
    """The funnels over the report's ``posts`` (one per delivery) and the stored visits."""
    measured = bool(rows)
    attribution = Attribution(published, config, tags=tags)
    ours = {p.delivery for p in posts}
    by_post = _grouped(posts, lambda p: p.post, measured)
    by_platform = _grouped(posts, lambda p: p.platform, measured)
    by_account = _grouped(posts, lambda p: p.account, measured)
    by_delivery = _grouped(posts, lambda p: p.delivery, measured)
    for funnel in by_post.values():
        funnel.platform = None  # a post goes to several platforms
    total = Funnel("all posts")
    for row in rows:
        post_id = attribution.post_of(row.row.campaign)
        if post_id is None or post_id not in by_post:
            continue  # another campaign, or a post outside the report's period
        _count(by_post[post_id], row)
        _count(total, row)
        delivery = attribution.delivery_of(row.row.campaign, row.row.source)
        if delivery is not None and delivery.id in ours:
            _count(by_platform[delivery.platform], row)
            _count(by_account[delivery.account], row)
            _count(by_delivery[delivery.id], row)
    for stats in posts:
        total.deliveries += 1
        total.reach = _add(total.reach, stats.figures.get("views"))
        total.reactions += stats.score
    if measured:
        total.visits, total.goals = total.visits or 0, total.goals or 0
    for name, platform in (platforms or {}).items():
        by_account.setdefault(name, Funnel(name, platform=platform))
    return Funnels(
        total=total,
        posts=sorted(by_post.values(), key=lambda f: f.name),
        platforms=sorted(by_platform.values(), key=lambda f: f.name),
        accounts=sorted(by_account.values(), key=lambda f: f.name),
        deliveries=by_delivery,
        measured=measured,
    )
