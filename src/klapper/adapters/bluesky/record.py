"""Pieces of an app.bsky.feed.post record: its record key (TID), facets, images, reply refs.

The record key makes publishing idempotent: it is a TID derived from the delivery, so a
second attempt at the same part asks for the same key, which the PDS refuses.

TID layout (atproto spec): 64 bits, top bit 0, then 53 bits of microseconds since the UNIX
epoch, then a 10-bit clock id, written as 13 characters of "base32-sortable". klapper fills it
from ``Outgoing.due`` and ``sha256(idempotency_key)``: the whole seconds of the due time, then
20 bits of the hash (mod 1,000,000) as the microseconds, then 10 more bits as the clock id.
The key thus sorts by due time and differs for every part and account due in the same second
(30 bits of hash). Without a due time the seconds come from the hash as well (within a year
from 2024-01-01), so the key is still fixed for the delivery.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from atproto_client import models
from atproto_client.utils import facet_detection

from klapper.adapters.base import MediaFile, PermanentError, Published, ThreadRef
from klapper.adapters.links import tag_url

_SORTABLE = "234567abcdefghijklmnopqrstuvwxyz"
_NO_DUE_BASE = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
_NO_DUE_SPAN = 2**25  # seconds (about a year) the hash spreads due-less keys over
WEB = "https://bsky.app"  # where a person opens a post


def record_key(*, idempotency_key: str, due: datetime | None) -> str:
    """The TID under which this part is published; the same for every attempt."""
    digest = int.from_bytes(hashlib.sha256(idempotency_key.encode()).digest()[:8], "big")
    if due is not None:
        seconds = int(due.timestamp())
    else:
        seconds = _NO_DUE_BASE + (digest >> 30) % _NO_DUE_SPAN
    micros = seconds * 1_000_000 + (digest >> 10) % 1_000_000
    value = (micros << 10) | (digest & 0x3FF)
    return "".join(_SORTABLE[(value >> shift) & 31] for shift in range(60, -1, -5))


def facets(
    text: str,
    *,
    resolve: Callable[[str], str | None],
    link_tags: Mapping[str, str] | None = None,
) -> list[models.AppBskyRichtextFacet.Main]:
    """Links, #hashtags and @mentions with UTF-8 byte offsets; ``resolve`` maps handle -> DID.

    A mention whose handle does not resolve stays plain text (as in Bluesky's own app). Each
    link's target gets the campaign tags ``link_tags``; its visible text stays as written.
    """
    found = facet_detection.detect_facets(text)  # links and tags: no network needed
    if link_tags:
        for facet in found:
            for feature in facet.features:
                if isinstance(feature, models.AppBskyRichtextFacet.Link):
                    feature.uri = tag_url(feature.uri, tags=link_tags)
    dids: dict[str, str | None] = {}
    for mention in facet_detection.detect_mentions(text):
        handle = mention.handle.lower()
        if handle not in dids:
            dids[handle] = resolve(handle)
        if dids[handle]:
            found.append(
                models.AppBskyRichtextFacet.Main(
                    features=[models.AppBskyRichtextFacet.Mention(did=dids[handle])],
                    index=models.AppBskyRichtextFacet.ByteSlice(
                        byte_start=mention.byte_start, byte_end=mention.byte_end
                    ),
                )
            )
    return sorted(found, key=lambda facet: facet.index.byte_start)


def first_link(found: Iterable[models.AppBskyRichtextFacet.Main]) -> str | None:
    """The URL of the first link facet, for the link card."""
    for facet in found:
        for feature in facet.features:
            if isinstance(feature, models.AppBskyRichtextFacet.Link):
                return str(feature.uri)
    return None


def read_image(media: MediaFile, *, max_bytes: int, types: frozenset[str]) -> tuple[bytes, str]:
    """An image's bytes and MIME type; PermanentError when Bluesky cannot take it."""
    mime = media.mime or mimetypes.guess_type(media.path.name)[0] or ""
    if mime not in types:
        raise PermanentError(
            f"{media.path.name}: Bluesky takes {', '.join(sorted(types))} images, not "
            f"{mime or 'this file type'}; convert it"
        )
    try:
        data = media.path.read_bytes()
    except OSError as exc:
        raise PermanentError(f"{media.path}: cannot read the image ({exc.strerror})") from exc
    if len(data) > max_bytes:
        raise PermanentError(
            f"{media.path.name} is {len(data):,} bytes; Bluesky takes at most {max_bytes:,} "
            f"bytes per image: make it smaller"
        )
    return data, mime


def images_embed(
    blobs: Iterable[tuple[models.BlobRef, str | None]],
) -> models.AppBskyEmbedImages.Main:
    """The images embed from uploaded blobs and their alt texts."""
    return models.AppBskyEmbedImages.Main(
        images=[models.AppBskyEmbedImages.Image(image=blob, alt=alt or "") for blob, alt in blobs]
    )


def reply_ref(thread: ThreadRef) -> models.AppBskyFeedPost.ReplyRef:
    """Root and parent strong refs (uri + cid) of a follow-up."""

    def strong(published: Published) -> models.ComAtprotoRepoStrongRef.Main:
        cid = published.ref.get("cid")
        if not cid:
            raise PermanentError(
                f"cannot reply to {published.remote_id}: its cid is unknown (was it published "
                "by klapper's Bluesky adapter?)"
            )
        return models.ComAtprotoRepoStrongRef.Main(uri=published.remote_id, cid=cid)

    return models.AppBskyFeedPost.ReplyRef(root=strong(thread.root), parent=strong(thread.parent))


def langs(options: Mapping[str, Any]) -> list[str] | None:
    """The record's languages from the ``lang`` option (one code or a list)."""
    lang = options.get("lang") or options.get("langs")
    if not lang:
        return None
    return [lang] if isinstance(lang, str) else [str(code) for code in lang]


def field(value: Any, name: str) -> Any:
    """A field of a record that atproto returned as a model or as a plain dict."""
    if isinstance(value, Mapping):
        return value.get(name) or value.get(_camel(name))
    return getattr(value, name, None)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def parse_time(value: str | None) -> datetime | None:
    """An atproto datetime string as aware UTC (None when absent or unreadable)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def web_url(uri: str) -> str:
    """https://bsky.app/profile/<did>/post/<rkey> for at://<did>/app.bsky.feed.post/<rkey>."""
    did, _, rkey = uri.removeprefix("at://").partition("/app.bsky.feed.post/")
    return f"{WEB}/profile/{did}/post/{rkey}"


def published(*, uri: str, cid: str, created_at: str | None) -> Published:
    """What ``publish`` and ``find`` return: uri as the remote id, cid kept for replies."""
    return Published(
        remote_id=uri, url=web_url(uri), published_at=parse_time(created_at), ref={"cid": cid}
    )


def now_iso() -> str:
    """The current time as atproto wants it: UTC with milliseconds and a Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
