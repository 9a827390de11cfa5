"""Which delivery a site's campaign and source stand for.

A campaign is a post: its id, or what klapper.yaml's ``links › utm › campaign`` makes of the
delivery (``"{post}-{date}"``). A source is one of the post's deliveries: the one whose
account name it is, else the one whose ``links › utm › source`` it is, else the first
published to the platform it names. Matomo lowercases campaign names, so the comparison
ignores case. Rows that name no post of ours, or a source none of its deliveries has, count
for no delivery (a post's own ``utm:`` tags are not known here).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from klapper.config.model import Config
from klapper.ledger import Delivery, PublishedDelivery


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

    def __init__(self, published: Iterable[PublishedDelivery], config: Config | None) -> None:
        utm = config.links.utm if config is not None else None
        self._campaigns: dict[str, list[tuple[Delivery, tuple[str, ...]]]] = {}
        self._source: dict[str, str] = {}  # delivery -> the utm_source its links carry
        ordered = sorted(
            (p.delivery for p in published), key=lambda d: (d.published_at or d.due, d.id)
        )
        for delivery in ordered:
            source = _fill(utm.source if utm else None, delivery, config)
            self._source[delivery.id] = source or delivery.platform
            # names by rank: the account's, the configured source's, the platform's
            names = tuple(n.casefold() for n in (delivery.account, source or "", delivery.platform))
            campaigns = {delivery.post_id, _fill(utm.campaign if utm else None, delivery, config)}
            for campaign in campaigns - {None, ""}:
                assert campaign is not None
                self._campaigns.setdefault(campaign.casefold(), []).append((delivery, names))

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
