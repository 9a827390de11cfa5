"""What `klapper preview` shows: each upcoming post per account as it will be sent, counted.

The text comes from ``queue.campaign.parts_as_sent`` (the publisher's, `plan`'s and `check`'s
one code path: ``per:`` overrides, campaign tags), its length from ``adapters.counting`` with
the account's rules, and the findings from ``queue.check_posts``: nothing here judges a post
differently from `klapper check`, and the deliveries are the ones `klapper plan` lists. A
repeating post is shown once per account, with the text
of its first occurrence in the period and every occurrence's time.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from klapper.adapters.base import Rules
from klapper.adapters.counting import count_text
from klapper.config.model import Config
from klapper.config.platforms import platform as describe
from klapper.queue import Repository, check_posts
from klapper.queue.campaign import campaign_tags, parts_as_sent
from klapper.queue.model import Media, Part, PlannedDelivery, Post, Problem

#: Options shown on their own (a content warning above the text, the first comment below it).
SHOWN_APART = ("cw", "first_comment")


@dataclass(frozen=True)
class Counted:
    """A text and its length as the platform counts it, against the limit."""

    text: str
    count: int
    limit: int
    with_cw: bool = False  # the count includes the content warning (Mastodon's rule)

    @property
    def over(self) -> bool:
        return self.count > self.limit

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "count": self.count,
            "limit": self.limit,
            "over": self.over,
            "count_includes_cw": self.with_cw,
        }


@dataclass(frozen=True)
class PartView:
    """One part (0 = the post, 1.. = the thread's follow-ups) as this account receives it."""

    body: Counted  # with a counted content warning (Mastodon), ``count`` includes it
    media: tuple[Media, ...]
    cw: str | None
    options: Mapping[str, Any]  # the rest: visibility, lang, per-platform options


@dataclass(frozen=True)
class DeliveryView:
    """One post to one account: when (every occurrence in the period) and what is sent."""

    account: str
    platform: str
    title: str  # the platform as people write it
    due: tuple[datetime, ...]  # aware UTC
    parts: tuple[PartView, ...]
    first_comment: Counted | None
    counting: str
    facet_tags: Mapping[str, str]  # campaign tags carried by link targets, not the text
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> int:
        return sum(p.severity == "error" for p in self.problems)


@dataclass(frozen=True)
class PostView:
    post: Post
    deliveries: tuple[DeliveryView, ...]

    @property
    def first_due(self) -> datetime:
        return min(d.due[0] for d in self.deliveries)


@dataclass(frozen=True)
class Removed:
    """A post the compared ref had and the working tree no longer has."""

    post: str
    file: str
    first_line: str


@dataclass(frozen=True)
class Preview:
    config: Config
    generated: datetime  # aware
    start: datetime  # aware UTC
    end: datetime
    posts: tuple[PostView, ...]
    problems: tuple[Problem, ...] = ()  # files in scope that could not be loaded as posts
    since_ref: str | None = None
    changed: tuple[str, ...] = ()  # with since_ref: the repository's files changed
    removed: tuple[Removed, ...] = ()
    # with since_ref: changed posts that have nothing due in the period, and why
    elsewhere: tuple[tuple[Post, str], ...] = ()

    @property
    def errors(self) -> int:
        return sum(d.errors for p in self.posts for d in p.deliveries) + sum(
            p.severity == "error" for p in self.problems
        )

    @property
    def deliveries(self) -> int:
        """Every occurrence to every account (a weekly post twice in two weeks counts 2)."""
        return sum(len(d.due) for p in self.posts for d in p.deliveries)


def _counted(text: str, rules: Rules, *, cw: str | None = None) -> Counted:
    count = count_text(text, rules.counting)
    with_cw = bool(cw and rules.counts_cw)  # Mastodon counts it into the same limit
    if cw and with_cw:
        count += count_text(cw, rules.counting)
    return Counted(text, count, rules.text_limit, with_cw)


def _part(part: Part, rules: Rules) -> PartView:
    cw = part.options.get("cw")
    cw_text = str(cw) if cw else None
    rest = {k: v for k, v in part.options.items() if k not in SHOWN_APART}
    return PartView(_counted(part.text, rules, cw=cw_text), part.media, cw_text, rest)


def _delivery(
    *,
    config: Config,
    post: Post,
    account: str,
    due: Sequence[datetime],
    rules: Rules,
    problems: Sequence[Problem],
) -> DeliveryView:
    platform = config.accounts[account].platform
    parts = parts_as_sent(
        config=config, post=post, account=account, platform=platform, rules=rules, due=due[0]
    )
    comment = parts[0].options.get("first_comment")
    tags = campaign_tags(config=config, post=post, account=account, platform=platform, due=due[0])
    return DeliveryView(
        account=account,
        platform=platform,
        title=describe(platform).title,
        due=tuple(due),
        parts=tuple(_part(part, rules) for part in parts),
        first_comment=_counted(str(comment), rules) if comment else None,
        counting=rules.counting,
        facet_tags=tags if rules.link_tags != "text" else {},
        # A finding without an account (a missing image file) concerns every account.
        problems=tuple(p for p in problems if p.account in (None, account)),
    )


def build_preview(
    *,
    repository: Repository,
    now: datetime,
    days: int,
    rules: Mapping[str, Rules],
    planned: Sequence[PlannedDelivery],
    files: Collection[str] | None = None,
    since_ref: str | None = None,
    removed: Sequence[Removed] = (),
) -> Preview:
    """The preview of the deliveries ``planned`` within ``days`` from ``now`` (aware).

    ``planned``: what `klapper plan` lists for the period (scheduler.evergreen's
    planned_with_evergreen: times, slots, evergreen time rounds); ``rules``: each account's
    limits (queue.announced_rules); ``files``: only posts (and load problems) of these
    repository files (``--since-ref``), None for all.
    """
    config = repository.config
    end = now + timedelta(days=days)

    def in_scope(file: str) -> bool:
        return files is None or file in files

    posts = {p.id: p for p in repository.posts if in_scope(p.source.file)}
    findings: dict[str, list[Problem]] = {}
    for problem in check_posts(repository, now=now, rules=rules):
        if problem.post in posts:
            findings.setdefault(problem.post, []).append(problem)
    times: dict[str, dict[str, list[datetime]]] = {}
    for delivery in planned:
        if delivery.post_id in posts:
            times.setdefault(delivery.post_id, {}).setdefault(delivery.account, []).append(
                delivery.due
            )
    views = [
        PostView(
            posts[post_id],
            tuple(
                _delivery(
                    config=config,
                    post=posts[post_id],
                    account=account,
                    due=due,
                    rules=rules[account],
                    problems=findings.get(post_id, ()),
                )
                for account, due in by_account.items()
            ),
        )
        for post_id, by_account in times.items()
    ]
    views.sort(key=lambda v: (v.first_due, v.post.id))
    elsewhere = (
        tuple((p, _why_not_shown(p, now, days)) for p in posts.values() if p.id not in times)
        if files is not None
        else ()
    )
    return Preview(
        config=config,
        generated=now,
        start=now,
        end=end,
        posts=tuple(views),
        problems=tuple(p for p in repository.problems if in_scope(p.source.file)),
        since_ref=since_ref,
        changed=tuple(sorted(files)) if files is not None else (),
        removed=tuple(removed),
        elsewhere=elsewhere,
    )


def _why_not_shown(post: Post, now: datetime, days: int) -> str:
    if post.draft:
        return "a draft: never published"
    if post.at is not None and post.at < now:
        return "its time has passed"
    return f"nothing due within {days} days"


def deliveries_by_day(
    preview: Preview,
) -> dict[date, list[tuple[datetime, PostView, tuple[str, ...]]]]:
    """Local date -> (local due time, post, its accounts at that time), in time order."""
    tz = preview.config.tz
    grouped: dict[tuple[datetime, str], tuple[PostView, list[str]]] = {}
    for view in preview.posts:
        for delivery in view.deliveries:
            for due in delivery.due:
                _, accounts = grouped.setdefault((due, view.post.id), (view, []))
                accounts.append(delivery.account)
    found: dict[date, list[tuple[datetime, PostView, tuple[str, ...]]]] = {}
    for (due, _), (view, accounts) in sorted(grouped.items(), key=lambda item: item[0]):
        local = due.astimezone(tz)
        found.setdefault(local.date(), []).append((local, view, tuple(sorted(accounts))))
    return found


__all__ = [
    "Counted",
    "DeliveryView",
    "PartView",
    "PostView",
    "Preview",
    "Removed",
    "build_preview",
    "deliveries_by_day",
]
