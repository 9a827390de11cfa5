"""Bluesky (and any AT Protocol PDS) through atproto's XRPC client.

Credentials: create an app password (Bluesky: Settings > Privacy and security > App passwords)
and run ``klapper login ACCOUNT``, which stores ``app_password`` and the session tokens
``access_jwt``/``refresh_jwt``; or give the app password as KLAPPER_<ACCOUNT>_APP_PASSWORD.
Settings: ``handle`` (who logs in), ``service`` (the PDS URL, default https://bsky.social).
The session is refreshed when it expires and re-created from the app password when the
refresh token has expired too; new tokens are saved through ``Adapter.update_secrets``, with the
``did``, ``handle`` and ``service`` they belong to. A kept session of another account or service
is never used (see ``bluesky_session.Session``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from atproto_client import models
from atproto_client.client.base import is_method_not_served
from atproto_client.client.raw import ClientRaw

from klapper.adapters.base import (
    Adapter,
    AdapterError,
    Interaction,
    MediaFile,
    Metrics,
    Outgoing,
    PermanentError,
    Published,
    Rules,
    ThreadRef,
    TransientError,
)
from klapper.adapters.bluesky import PLATFORM
from klapper.adapters.bluesky import record as rec
from klapper.adapters.bluesky.card import fetch_bytes, fetch_card
from klapper.adapters.bluesky.session import DEFAULT_SERVICE, Session, error_parts

log = logging.getLogger(__name__)

POST = "app.bsky.feed.post"
GET_POSTS_BATCH = 25  # app.bsky.feed.getPosts takes at most 25 URIs
NOTIFICATION_PAGES = 10  # listNotifications pages (100 each) read per interactions() call
CARD_TIMEOUT = 3.0  # seconds for the link card's page (and again for its image)


class BlueskyAdapter(Adapter):
    """One Bluesky account on one PDS."""

    platform: ClassVar[str] = "bluesky"
    rules: ClassVar[Rules] = PLATFORM.rules

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = Session(
            service=self.settings.get("service") or DEFAULT_SERVICE,
            identifier=self.settings.get("handle") or self.secrets.get("handle"),
            secrets=self.secrets,
            timeout=self.timeout,
            account=self.name,
            on_save=lambda changed: self.update_secrets(**changed),
        )
        self._appview_missing_logged = False

    # --- publish ------------------------------------------------------------------------

    def publish(self, post: Outgoing) -> Published:
        rkey = rec.record_key(idempotency_key=post.idempotency_key, due=post.due)
        record = self._record(post)
        data = models.ComAtprotoRepoCreateRecord.Data(
            repo=self.session.did, collection=POST, rkey=rkey, record=record
        )
        try:
            made = self.session.call(
                lambda c: c.com.atproto.repo.create_record(data), action="publish the post"
            )
        except TransientError as exc:
            if error_parts(exc.__cause__)[0] != 500:
                raise
            # A PDS answers a record key that is taken ("already a value at key") with 500.
            existing = self._existing(rkey, expected_text=post.text)
            if existing is None:
                raise
            return existing
        return rec.published(uri=made.uri, cid=made.cid, created_at=record.created_at)

    def _record(self, post: Outgoing) -> models.AppBskyFeedPost.Record:
        found = rec.facets(post.text, resolve=self._resolve_handle, link_tags=post.link_tags)
        embed: Any = None
        if post.media:
            embed = rec.images_embed((self._upload(m), m.alt) for m in post.media)
        elif post.options.get("card", True):  # `card: false` keeps the link without a preview
            link = rec.first_link(found)
            embed = self._card(link) if link else None
        return models.AppBskyFeedPost.Record(
            text=post.text,
            created_at=rec.now_iso(),
            facets=found or None,
            embed=embed,
            reply=rec.reply_ref(post.reply_to) if post.reply_to else None,
            langs=rec.langs(post.options),
        )

    def _resolve_handle(self, handle: str) -> str | None:
        try:
            return self.session.call(
                lambda c: str(c.com.atproto.identity.resolve_handle({"handle": handle}).did),
                action=f"resolve @{handle}",
            )
        except PermanentError:  # 400 HandleNotFound: the mention stays plain text
            return None

    def _upload(self, media: MediaFile) -> models.BlobRef:
        rules = self.effective_rules()
        data, mime = rec.read_image(media, max_bytes=rules.max_media_bytes, types=rules.media_types)
        return self._upload_bytes(data, mime, action=f"upload {media.path.name}")

    def _upload_bytes(self, data: bytes, mime: str, *, action: str) -> models.BlobRef:
        return self.session.call(
            lambda c: c.com.atproto.repo.upload_blob(data, headers={"Content-Type": mime}).blob,
            action=action,
        )

    def _card(self, url: str) -> models.AppBskyEmbedExternal.Main | None:
        """The link card for ``url``; None (never an error) when it cannot be made."""
        card = fetch_card(url, timeout=CARD_TIMEOUT)
        if card is None:
            return None
        thumb = None
        if card.image:
            image = fetch_bytes(
                card.image,
                timeout=CARD_TIMEOUT,
                limit=self.rules.max_media_bytes + 1,
                want="image/",
            )
            if (
                image
                and len(image[0]) <= self.rules.max_media_bytes
                and (image[1] in self.rules.media_types)
            ):
                try:
                    thumb = self._upload_bytes(image[0], image[1], action="upload the card image")
                except AdapterError as exc:
                    log.info("link card for %s without its image: %s", url, exc)
        return models.AppBskyEmbedExternal.Main(
            external=models.AppBskyEmbedExternal.External(
                uri=card.url, title=card.title, description=card.description, thumb=thumb
            )
        )

    # --- find ---------------------------------------------------------------------------

    def find(self, post: Outgoing) -> Published | None:
        rkey = rec.record_key(idempotency_key=post.idempotency_key, due=post.due)
        try:
            got = self._fetch(rkey)
        except PermanentError as exc:
            # Only a clear "no such record" proves absence; anything else stays unknown.
            raise TransientError(f"cannot tell whether the post exists: {exc}") from exc
        return self._published(got) if got is not None else None

    def _fetch(self, rkey: str) -> Any | None:
        """The post record at ``rkey`` in the account's repo; None on RecordNotFound."""

        def get(c: ClientRaw) -> Any:
            params = {"repo": self.session.did, "collection": POST, "rkey": rkey}
            try:
                return c.com.atproto.repo.get_record(params)
            except Exception as exc:
                if error_parts(exc)[1] == "RecordNotFound":
                    return None
                raise

        return self.session.call(get, action="look the post up")

    @staticmethod
    def _published(got: Any) -> Published:
        created = rec.field(got.value, "created_at")
        return rec.published(uri=got.uri, cid=got.cid or "", created_at=created)

    def _existing(self, rkey: str, *, expected_text: str) -> Published | None:
        """After a 500 on create: the record at ``rkey`` if it is this post (None if unknown)."""
        try:
            got = self._fetch(rkey)
        except AdapterError:
            return None  # still unknown: the caller reports the original failure
        if got is None:
            return None
        if rec.field(got.value, "text") != expected_text:
            raise PermanentError(
                f"record key {rkey} already holds a different post ({got.uri}); "
                "this delivery cannot be published under its key"
            )
        return self._published(got)

    # --- answering the inbox ------------------------------------------------------------

    def reply_target(self, item: Interaction) -> ThreadRef:
        """The item's strong ref (uri + cid) as parent, and its thread's root as root.

        Read from the record itself (``com.atproto.repo.getRecord``, which needs no AppView),
        else from the AppView (``getPosts``) for a record on another server.
        """
        repo, _, rkey = item.remote_id.removeprefix("at://").partition(f"/{POST}/")
        if not rkey:
            raise PermanentError(f"{item.remote_id} is not a Bluesky post; it cannot be answered")

        def get(c: ClientRaw) -> Any:
            return c.com.atproto.repo.get_record({"repo": repo, "collection": POST, "rkey": rkey})

        try:
            got = self.session.call(get, action="read the post to answer")
            uri, cid, value = got.uri, got.cid, got.value
        except PermanentError as exc:
            views: list[Any] = self.session.call(
                functools.partial(_get_posts, uris=[item.remote_id]),
                action="read the post to answer",
            )
            if not views:
                raise PermanentError(
                    f"{item.remote_id} is gone; there is nothing to answer"
                ) from exc
            uri, cid, value = views[0].uri, views[0].cid, views[0].record
        parent = rec.published(uri=uri, cid=str(cid or ""), created_at=None)
        root_ref = rec.field(rec.field(value, "reply"), "root")
        root = (
            rec.published(
                uri=rec.field(root_ref, "uri"), cid=rec.field(root_ref, "cid"), created_at=None
            )
            if root_ref
            else parent
        )
        return ThreadRef(root=root, parent=parent)

    # --- engagement (needs an AppView behind the PDS) -----------------------------------

    def _no_appview(self, exc: AdapterError, what: str) -> bool:
        """True (and logged once) when the PDS has no AppView to answer app.bsky.* reads."""
        cause = exc.__cause__
        status, error, message = error_parts(cause) if cause else (None, "", "")
        missing = (cause is not None and is_method_not_served(cause)) or (
            status == 400 and error == "InvalidRequest" and message.startswith("No service")
        )
        if missing and not self._appview_missing_logged:
            self._appview_missing_logged = True
            log.warning("%s: the Bluesky server has no AppView, so %s are unknown", self.name, what)
        return missing

    def metrics(self, remote_ids: Sequence[str]) -> list[Metrics]:
        """Counts from app.bsky.feed.getPosts, 25 per request; None for what is not known."""
        counts: dict[str, Metrics] = {}
        for start in range(0, len(remote_ids), GET_POSTS_BATCH):
            batch = list(remote_ids[start : start + GET_POSTS_BATCH])
            try:
                views: list[Any] = self.session.call(
                    functools.partial(_get_posts, uris=batch),
                    action="read reactions",
                )
            except AdapterError as exc:
                if self._no_appview(exc, "reactions"):
                    break
                raise
            for view in views:
                counts[view.uri] = Metrics(
                    remote_id=view.uri,
                    likes=view.like_count,
                    reposts=view.repost_count,
                    replies=view.reply_count,
                    quotes=view.quote_count,
                    bookmarks=view.bookmark_count,
                )
        # A post the AppView does not return (deleted, not indexed, no AppView): unknown, not 0.
        return [counts.get(uri) or Metrics(remote_id=uri) for uri in remote_ids]

    def interactions(self, *, since: datetime, own_ids: Sequence[str]) -> list[Interaction]:
        """Replies to ``own_ids`` and mentions since ``since``, from listNotifications."""
        own = set(own_ids)
        found: list[Interaction] = []
        cursor: str | None = None
        for _ in range(NOTIFICATION_PAGES):
            params = {"reasons": ["reply", "mention"], "limit": 100, "cursor": cursor}
            try:
                page: Any = self.session.call(
                    functools.partial(_notifications, params=params),
                    action="read replies and mentions",
                )
            except AdapterError as exc:
                if self._no_appview(exc, "replies and mentions"):
                    return []
                raise
            older = False
            for note in page.notifications:
                item = self._interaction(note, own=own)
                if item is None:
                    continue
                if item.created_at < since:
                    older = True
                    continue
                found.append(item)
            cursor = page.cursor
            if older or not cursor:
                break
        return sorted(found, key=lambda item: item.created_at)

    def _interaction(self, note: Any, *, own: set[str]) -> Interaction | None:
        if note.reason not in ("reply", "mention"):
            return None
        reply = rec.field(note.record, "reply")
        parent = rec.field(rec.field(reply, "parent"), "uri") if reply else None
        root = rec.field(rec.field(reply, "root"), "uri") if reply else None
        if note.reason == "reply" and not ({parent, root} & own):
            return None
        created = (
            rec.parse_time(rec.field(note.record, "created_at"))
            or rec.parse_time(note.indexed_at)
            or datetime.now(UTC)
        )  # a record without a readable time: as new
        return Interaction(
            remote_id=note.uri,
            kind=note.reason,
            author=note.author.handle,
            text=rec.field(note.record, "text") or "",
            url=rec.web_url(note.uri),
            created_at=created,
            in_reply_to=parent,
            by_self=note.author.did == self.session.did,
        )

    def close(self) -> None:
        self.session.close()


def _get_posts(client: Any, *, uris: list[str]) -> list[Any]:
    return list(client.app.bsky.feed.get_posts({"uris": uris}).posts)


def _notifications(client: Any, *, params: dict[str, Any]) -> Any:
    return client.app.bsky.notification.list_notifications(params)
