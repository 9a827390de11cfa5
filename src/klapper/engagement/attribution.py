"""Which delivery a site's campaign and source stand for.

A campaign is a post: its id, or the ``utm_campaign`` its delivery's links were sent with.
Those tags come from ``tags`` (``queue.campaign.SentTags``: the function that tags the links
at publish time, over klapper.yaml's ``links › utm``, the post's ``utm:`` and its ``per:``
entries); for a post no longer in the repository, from klapper.yaml's template alone. A
source is one of the post's deliveries: the one whose account name it is, else the one whose
``utm_source`` it is, else the first published to the platform it names. Matomo lowercases
campaign names, so the comparison ignores case. Rows that name no post of ours, or a source
none of its deliveries has, count for no delivery.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from klapper.config.model import Config
from klapper.ledger import Delivery, PublishedDelivery


class TagsOf(Protocol):
    """The campaign tags (key -> value, no ``utm_``) a delivery's links are sent with;
    None when the post is not known (no longer in the repository)."""

    def __call__(
        self, *, post: str, account: str, platform: str, due: datetime
    ) -> Mapping[str, str] | None: ...


def _fill(template: str | None, delivery: Delivery, config: Config | None) -> str | None:
    if template is None or config is None:
        return None
    values = {
        "platform": delivery.platform,
        "account": delivery.account,
        "post": delivery.post_id,
        "date": delivery.due.astimezone(config.tz).date().isoformat(),
    }
    try:
        return template.format_map(values)
    except (KeyError, ValueError):  # klapper.yaml changed since: then only the plain names
        return None


class Attribution:
    """Looks up the delivery (and post) behind a campaign and source."""

    def __init__(
        self,
        published: Iterable[PublishedDelivery],
        config: Config | None,
        *,
        tags: TagsOf | None = None,
    ) -> None:
        utm = config.links.utm if config is not None else None
        self._campaigns: dict[str, list[tuple[Delivery, tuple[str, ...]]]] = {}
        self._source: dict[str, str] = {}  # delivery -> the utm_source its links carry
        ordered = sorted(
            (p.delivery for p in published), key=lambda d: (d.published_at or d.due, d.id)
        )
        for delivery in ordered:
            sent = (
                tags(
                    post=delivery.post_id,
                    account=delivery.account,
                    platform=delivery.platform,
                    due=delivery.due,
                )
                if tags is not None
                else None
            )
            if sent is not None:
                source, campaign = sent.get("source"), sent.get("campaign")
            else:
                source = _fill(utm.source if utm else None, delivery, config)
                campaign = _fill(utm.campaign if utm else None, delivery, config)
            self._source[delivery.id] = source or delivery.platform
            # names by rank: the account's, the configured source's, the platform's
            names = tuple(n.casefold() for n in (delivery.account, source or "", delivery.platform))
            for name in {delivery.post_id, campaign} - {None, ""}:
                assert name is not None
                self._campaigns.setdefault(name.casefold(), []).append((delivery, names))

    def post_of(self, campaign: str) -> str | None:
        found = self._campaigns.get(campaign.casefold())
        return found[0][0].post_id if found else None

    def delivery_of(self, campaign: str, source: str) -> Delivery | None:
        found = self._campaigns.get(campaign.casefold(), [])
        wanted = source.casefold()
        for rank in range(3):
            for delivery, names in found:
                if names[rank] and names[rank] == wanted:
                    return delivery
        return None

    def sources(self, deliveries: Sequence[Delivery]) -> list[str]:
        """The utm_source values ``deliveries``' links carry, as far as klapper.yaml says
        (lowercase, as Matomo keeps them)."""
        return list(
            dict.fromkeys(self._source.get(d.id, d.platform).casefold() for d in deliveries)
        )
