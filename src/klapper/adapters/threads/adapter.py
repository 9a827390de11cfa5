"""Threads through its Graph API (graph.threads.net): text, images, carousels, reply chains.

Publishing is Meta's two steps (``adapters/meta/containers.py``): ``POST /{user}/threads`` makes
a container (``TEXT`` with the first link as ``link_attachment``, ``IMAGE`` with ``image_url``
under the account's ``media_url`` and ``alt_text``, or 2 to 20 ``is_carousel_item`` images in
one ``CAROUSEL``), a follow-up carries ``reply_to_id``; its ``status`` is read until FINISHED,
then ``POST /{user}/threads_publish``. ``threads_publishing_limit`` is read first: 250 posts and
1,000 replies in 24 hours; a used-up quota waits until the oldest post leaves the window.
``find`` reads the profile's recent threads (a follow-up: its replies) for the text near the
due time. The token is refreshed once it is a day old (``token.py``) and stored back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from klapper.adapters.base import (
    AdapterError,
    AuthExpiredError,
    Interaction,
    MediaFile,
    Metrics,
    Outgoing,
    PermanentError,
    Published,
    TransientError,
)
from klapper.adapters.counting import find_urls
from klapper.adapters.facebook.adapter import graph_time
from klapper.adapters.matching import FIND_WINDOW, find_since, same_text
from klapper.adapters.meta.account import GraphAdapter
from klapper.adapters.meta.containers import ContainerAPI, Pending, publish_once
from klapper.adapters.meta.graph import GraphClient
from klapper.adapters.meta.quota import quota_error, used_up
from klapper.adapters.public_media import NotServed, media_base, public_url
from klapper.adapters.threads import PLATFORM, THREADS_BASE, THREADS_VERSION
from klapper.adapters.threads.token import refresh, refresh_due

log = logging.getLogger(__name__)

POST_FIELDS = "id,text,timestamp,permalink"
REPLY_FIELDS = "id,text,username,timestamp,permalink,replied_to,is_reply_owned_by_me"
#: what /{id}/insights is asked for, and the Metrics field each one fills
INSIGHTS = {
    "likes": "likes",
    "replies": "replies",
    "reposts": "reposts",
    "quotes": "quotes",
    "views": "views",
}
#: how long after a failed refresh the next one is tried (seconds)
REFRESH_RETRY = 3600.0
#: threads read per page by `find`, and pages at most
FIND_PAGE, FIND_PAGES = 25, 8


def _created(item: Mapping[str, Any]) -> datetime | None:
    return graph_time(item.get("timestamp"))


class ThreadsAdapter(GraphAdapter):
    """One Threads profile."""

    title: ClassVar[str] = "Threads"
    platform: ClassVar[str] = "threads"
    rules = PLATFORM.rules
    base: ClassVar[str] = THREADS_BASE
    version: ClassVar[str] = THREADS_VERSION

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # The profile that logged in; "me" names it as well, before the first login kept its id.
        self.user = str(self.secrets.get("user_id") or "me")
        self.media_url = media_base(self.settings) or ""
        if not self.media_url:
            raise PermanentError(
                f"Threads account {self.name!r} needs `media_url: https://...` in klapper.yaml"
            )
        self.api = ContainerAPI(
            title="Threads", publish_path=f"{self.user}/threads_publish", status_field="status"
        )
        self.pending = Pending(
            folder=self.settings.get("cache_dir"), platform="threads", account=self.name
        )
        self._refresh_after = 0.0  # monotonic time before which no refresh is tried again

    # --- the token ----------------------------------------------------------------------------

    @property
    def graph(self) -> GraphClient:
        self.renew_if_due()
        return super().graph

    def renew_if_due(self) -> bool:
        """Refresh a token that is a day old, before it expires, and keep the new one."""
        if time.monotonic() < self._refresh_after or not refresh_due(self.secrets):
            return False
        try:
            fresh = refresh(
                account=self.name,
                token=self.secrets["access_token"],
                base=str(self.settings.get("api_base") or self.base),
                timeout=self.timeout,
            )
        except AdapterError as exc:
            # The old token works until it expires (a dead one fails the call itself, which
            # pauses the account): go on with it and try again in a while, not on every call.
            self._refresh_after = time.monotonic() + REFRESH_RETRY
            log.warning("Threads account %s: the token was not refreshed now (%s)", self.name, exc)
            return False
        self.update_secrets(**fresh)
        if self._graph is not None:
            self._graph.token = fresh["access_token"]
        log.info("Threads account %s: access token refreshed", self.name)
        return True

    # --- publish ----------------------------------------------------------------------------

    def publish(self, post: Outgoing) -> Published:
        if len(post.media) > PLATFORM.rules.max_media:
            raise PermanentError(
                f"a Threads carousel holds at most {PLATFORM.rules.max_media} images,"
                f" not {len(post.media)}"
            )
        urls = [self.url_of(media) for media in post.media]
        reply_to = post.reply_to.parent.remote_id if post.reply_to is not None else None
        content = {
            "text": post.text,
            "media": urls,
            "alt": [m.alt for m in post.media],
            "reply_to": reply_to,
        }
        self.respect_quota(reply=reply_to is not None)
        thread_id = publish_once(
            self.graph,
            api=self.api,
            pending=self.pending,
            key=post.idempotency_key,
            content=content,
            create=lambda: self._create(post, urls, reply_to=reply_to),
            timeout=self.timeout,
        )
        if thread_id is None:  # the kept container was published by an earlier attempt
            found = self.find(post)
            if found is None:
                raise TransientError(
                    "Threads published this post on an earlier attempt but it is not among the"
                    " profile's recent threads yet; klapper looks again later"
                )
            return found
        return Published(
            remote_id=thread_id, url=self._permalink(thread_id), published_at=datetime.now(UTC)
        )

    def url_of(self, media: MediaFile) -> str:
        """Where Threads fetches ``media``: its path in the repository under ``media_url``."""
        try:
            return public_url(base=self.media_url, repo=self.repo, path=media.path)
        except NotServed as exc:
            raise PermanentError(str(exc)) from None

    def _create(self, post: Outgoing, urls: Sequence[str], *, reply_to: str | None) -> str:
        common = {"text": post.text, **({"reply_to_id": reply_to} if reply_to else {})}
        if not urls:
            links = find_urls(post.text, flavour="mastodon")
            link = {"link_attachment": links[0].url} if links else {}
            return self._container(
                {"media_type": "TEXT", **common, **link}, what="create the text container"
            )
        if len(urls) == 1:
            return self._container(
                {"media_type": "IMAGE", "image_url": urls[0], **common, **_alt(post.media[0])},
                what="create the image container",
            )
        children = [
            self._container(
                {
                    "media_type": "IMAGE",
                    "image_url": url,
                    "is_carousel_item": "true",
                    **_alt(media),
                },
                what=f"create the container for {media.path.name}",
            )
            for url, media in zip(urls, post.media, strict=True)
        ]
        return self._container(
            {"media_type": "CAROUSEL", "children": ",".join(children), **common},
            what="create the carousel container",
        )

    def _container(self, data: Mapping[str, str], *, what: str) -> str:
        answer = self.graph.call("POST", f"{self.user}/threads", what=what, data=data)
        if not answer.get("id"):
            raise TransientError(f"Threads created no container to {what}")
        return str(answer["id"])

    def _permalink(self, thread_id: str) -> str | None:
        try:
            answer = self.graph.call(
                "GET", thread_id, what="read the post's address", params={"fields": "permalink"}
            )
        except TransientError:
            return None  # the post is out; its address is a nicety
        return str(answer.get("permalink") or "") or None

    def respect_quota(self, *, reply: bool = False) -> None:
        """Wait (``RateLimitedError``) while the 24-hour quota for posts (or replies) is used."""
        answer = self.graph.call(
            "GET",
            f"{self.user}/threads_publishing_limit",
            what="read the publishing quota",
            params={"fields": "quota_usage,config,reply_quota_usage,reply_config"},
        )
        row = (answer.get("data") or [{}])[0]
        prefix = "reply_" if reply else ""
        full = used_up(row, usage=f"{prefix}quota_usage", config=f"{prefix}config")
        if full is None:
            return
        used, total, window = full
        edge = "replies" if reply else "threads"
        raise quota_error(
            title="Threads",
            what="reply" if reply else "publishing",
            used=used,
            total=total,
            window=window,
            frees=lambda span: self._quota_frees(span, edge=edge),
        )

    def _quota_frees(self, window: timedelta, *, edge: str) -> datetime | None:
        """When the oldest post of the window leaves it; None when the profile does not show."""
        times = [
            created
            for item in self._recent(edge, since=datetime.now(UTC) - window)
            if (created := _created(item)) is not None
        ]
        return min(times) + window if times else None

    # --- find -------------------------------------------------------------------------------

    def find(self, post: Outgoing) -> Published | None:
        since = find_since(post.due) or datetime.now(UTC) - FIND_WINDOW
        # GET /{user}/threads lists the profile's own posts, not its replies: a follow-up is
        # found among the replies.
        edge = "replies" if post.reply_to is not None else "threads"
        for item in self._recent(edge, since=since):
            if same_text(str(item.get("text") or ""), post.text):
                return Published(
                    remote_id=str(item["id"]),
                    url=item.get("permalink"),
                    published_at=_created(item),
                )
        return None

    def _recent(self, edge: str, *, since: datetime) -> list[dict[str, Any]]:
        return self.graph.recent(
            f"{self.user}/{edge}",
            since=since,
            fields=POST_FIELDS,
            what=f"read the profile's recent {edge}",
            created=_created,
            page=FIND_PAGE,
            most=FIND_PAGES,
        )

    # --- engagement -------------------------------------------------------------------------

    def metrics(self, remote_ids: Sequence[str]) -> list[Metrics]:
        """One ``/{id}/insights`` per post (the Threads API reads no batch); a post that is
        gone has no reading, and a figure Meta leaves out stays None."""
        found = []
        for remote_id in dict.fromkeys(remote_ids):
            try:
                answer = self.graph.call(
                    "GET",
                    f"{remote_id}/insights",
                    what="read the post's insights",
                    params={"metric": ",".join(INSIGHTS)},
                )
            except PermanentError as exc:  # deleted (error 100): no reading, never zeros
                log.info("Threads post %s has no insights: %s", remote_id, exc)
                continue
            found.append(_metrics(remote_id, answer))
        return found

    def metrics_per_request(self) -> int | None:
        return PLATFORM.lookup_batch

    def interactions(self, *, since: datetime, own_ids: Sequence[str]) -> list[Interaction]:
        """Replies at any depth under our posts (``/{id}/conversation``) and mentions of the
        profile, since ``since``."""
        own = set(own_ids)
        found: list[Interaction] = []
        for remote_id in dict.fromkeys(own_ids):
            try:
                pages = list(
                    self.graph.pages(
                        f"{remote_id}/conversation",
                        what="read the replies",
                        params={"fields": REPLY_FIELDS, "reverse": "true"},
                        most=4,
                    )
                )
            except PermanentError as exc:  # the post is gone
                log.info("Threads post %s has no replies to read: %s", remote_id, exc)
                continue
            for item in (item for page in pages for item in page):
                said = self._said(item, kind="reply", since=since, parent=remote_id)
                if said is not None and said.remote_id not in own:
                    found.append(said)
        found += self._mentions(since=since, own=own)
        return found

    def _mentions(self, *, since: datetime, own: set[str]) -> list[Interaction]:
        """Posts that tag the profile; needs threads_manage_mentions, which is optional."""
        try:
            items = self.graph.recent(
                f"{self.user}/mentions",
                since=since,
                fields=REPLY_FIELDS,
                what="read mentions",
                created=_created,
                most=4,
            )
        except AuthExpiredError as exc:
            if exc.missing_access is None:
                raise
            log.debug("Threads account %s reads no mentions: %s", self.name, exc)
            return []
        return [
            said
            for item in items
            if (said := self._said(item, kind="mention", since=since, parent=None)) is not None
            and said.remote_id not in own
        ]

    def _said(
        self, item: Mapping[str, Any], *, kind: str, since: datetime, parent: str | None
    ) -> Interaction | None:
        created = _created(item)
        if created is None or created < since or not item.get("id"):
            return None
        replied_to = (item.get("replied_to") or {}).get("id") or parent
        return Interaction(
            remote_id=str(item["id"]),
            kind="mention" if kind == "mention" else "reply",
            author=str(item.get("username") or "someone"),
            text=str(item.get("text") or ""),
            url=item.get("permalink"),
            created_at=created,
            in_reply_to=str(replied_to) if kind == "reply" and replied_to else None,
            by_self=item.get("is_reply_owned_by_me") is True,
        )


def _metrics(remote_id: str, answer: Mapping[str, Any]) -> Metrics:
    counts: dict[str, int] = {}
    for row in answer.get("data") or []:
        name = INSIGHTS.get(str(row.get("name")))
        values = row.get("values") or []
        value = values[0].get("value") if values else row.get("total_value", {}).get("value")
        if name and isinstance(value, int):
            counts[name] = value
    return Metrics(remote_id=remote_id, **counts)  # a metric Meta left out stays None


def _alt(media: MediaFile) -> dict[str, str]:
    return {"alt_text": media.alt} if media.alt else {}
