"""The parts of a delivery as they are sent: campaign tags filled in and added to each link.

klapper.yaml's ``links › utm`` holds the tags, a post's ``utm:`` replaces some of them (or,
``false``, all), and a ``per:`` entry's ``utm:`` does the same over the post's (platform, then
account name; after ``false`` only the keys given later are left). Placeholders are filled per delivery: ``{platform}``, ``{account}``, ``{post}``
(its id) and ``{date}`` (the local date of the delivery's due time, in klapper.yaml's zone).
Where the platform's rules say ``link_tags="text"`` the links in every part's text are
tagged; on a platform that links through facets (Bluesky) the text stays as written and the
adapter tags each link's target from ``Outgoing.link_tags``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from klapper.adapters.base import Rules
from klapper.adapters.links import tag_text
from klapper.config.model import Config
from klapper.queue.model import Part, Post

__all__ = ["SentTags", "campaign_tags", "parts_as_sent", "tag_parts"]


def campaign_tags(
    *, config: Config, post: Post, account: str, platform: str, due: datetime
) -> dict[str, str]:
    """The tags (key -> value, without ``utm_``) for this delivery; empty when there are none."""
    configured = config.links.utm
    template: dict[str, str] = configured.tags() if configured else {}
    # klapper.yaml, then the post, then its per: platform, then its per: account name
    layers = [post.utm, *(o.utm for o in (post.per.get(platform), post.per.get(account)) if o)]
    for layer in layers:
        if layer is False:
            template = {}
        elif layer:
            template = {**template, **layer}
    if not template:
        return {}
    values = {
        "platform": platform,
        "account": account,
        "post": post.id,
        "date": due.astimezone(config.tz).date().isoformat(),
    }
    return {key: value.format_map(values) for key, value in template.items()}


def tag_parts(parts: tuple[Part, ...], *, tags: dict[str, str], rules: Rules) -> tuple[Part, ...]:
    """``parts`` with their links tagged, when this platform writes links into the text."""
    if not tags or rules.link_tags != "text":
        return parts
    return tuple(
        replace(part, text=tag_text(part.text, tags=tags, counting=rules.counting))
        for part in parts
    )


def parts_as_sent(
    *, config: Config, post: Post, account: str, platform: str, rules: Rules, due: datetime
) -> tuple[Part, ...]:
    """What this account receives for ``post`` due at ``due``, links tagged (module doc)."""
    tags = campaign_tags(config=config, post=post, account=account, platform=platform, due=due)
    return tag_parts(post.parts_for(account, platform), tags=tags, rules=rules)


class SentTags:
    """``campaign_tags`` by post id: what the analytics match visits by (``engagement``'s
    ``TagsOf``), so a post's own ``utm:`` names its campaign there too."""

    def __init__(self, *, config: Config, posts: Mapping[str, Post]) -> None:
        self.config = config
        self.posts = posts

    def __call__(
        self, *, post: str, account: str, platform: str, due: datetime
    ) -> dict[str, str] | None:
        found = self.posts.get(post)
        if found is None:
            return None  # no longer in the repository: klapper.yaml's template is all we know
        return campaign_tags(
            config=self.config, post=found, account=account, platform=platform, due=due
        )
