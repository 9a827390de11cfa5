"""What the publisher hands an adapter for one part of a delivery, and parts as recorded."""

from __future__ import annotations

from pathlib import Path

from klapper.adapters.base import MediaFile, Outgoing, Published, ThreadRef
from klapper.config.model import Config
from klapper.config.platforms import platform as describe
from klapper.ledger import Delivery, PartRecord, idempotency_key
from klapper.queue.campaign import campaign_tags, tag_parts
from klapper.queue.media import inspect_media
from klapper.queue.model import Post


def outgoing_part(
    *,
    config: Config,
    delivery: Delivery,
    post: Post,
    index: int,
    done: list[Published],
    answering: ThreadRef | None = None,
) -> Outgoing:
    """Part ``index`` of ``delivery`` as it goes out, after the parts ``done`` already are."""
    # Campaign tags are filled from the delivery, so every attempt sends the same text;
    # an answer from the inbox goes as it was written.
    tags = (
        campaign_tags(
            config=config,
            post=post,
            account=delivery.account,
            platform=delivery.platform,
            due=delivery.due,
        )
        if answering is None
        else {}
    )
    parts = post.parts_for(delivery.account, delivery.platform)
    link_tags: dict[str, str] = {}
    if tags:
        rules = describe(delivery.platform).rules
        parts = tag_parts(parts, tags=tags, rules=rules)
        link_tags = tags if rules.link_tags == "facets" else {}

    def outgoing(at: int, followups: tuple[Outgoing, ...] = ()) -> Outgoing:
        part = parts[at]
        return Outgoing(
            text=part.text,
            idempotency_key=idempotency_key(delivery.id, at),
            media=tuple(
                MediaFile(path=m.path, alt=m.alt, mime=_content_type(m.path)) for m in part.media
            ),
            options=part.options,
            reply_to=ThreadRef(root=done[0], parent=done[at - 1]) if at and done else answering,
            post_id=delivery.post_id,
            part=at,
            due=delivery.due,
            delivery=delivery.id,
            followups=followups,
            link_tags=link_tags,
        )

    # The first part carries the rest too, for platforms that take a thread in one call.
    rest = tuple(outgoing(at) for at in range(1, len(parts))) if index == 0 else ()
    return outgoing(index, rest)


def _content_type(path: Path) -> str | None:
    """An image's type from its content (`klapper check` holds a post whose image is none)."""
    try:
        return inspect_media(path).mime
    except OSError:
        return None  # gone since the check: the adapter's own read says so


def published_part(record: PartRecord) -> Published:
    """A part the ledger recorded, as the adapters take it (a thread's root and parent)."""
    return Published(
        remote_id=record.remote_id, url=record.url, published_at=record.published_at, ref=record.ref
    )
