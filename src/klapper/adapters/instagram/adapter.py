"""Instagram through the Graph API: an image or a carousel, its first comment, engagement.

Publishing is Meta's two steps (``adapters/meta/containers.py``): a container per image
(``POST /{user}/media`` with ``image_url`` under the account's ``media_url`` and ``alt_text``),
for 2 to 10 images each marked ``is_carousel_item`` and one ``CAROUSEL`` container with the
caption; its status is read until FINISHED, then ``POST /{user}/media_publish``. The account's
``content_publishing_limit`` is read first: when the quota is used up the post waits
(``RateLimitedError``) until the oldest post of the 24-hour window leaves it. ``first_comment``
is posted on the new media right after. ``find`` reads the account's recent media for the
caption near the due time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from klapper.adapters.base import (
    AdapterError,
    Interaction,
    MediaFile,
    Metrics,
    Outgoing,
    PermanentError,
    Published,
    TransientError,
)
from klapper.adapters.facebook.adapter import graph_time
from klapper.adapters.identity import mismatch_error
from klapper.adapters.instagram import PLATFORM
from klapper.adapters.matching import FIND_WINDOW, find_since, same_text
from klapper.adapters.meta.account import GraphAdapter
from klapper.adapters.meta.containers import ContainerAPI, Pending, publish_once
from klapper.adapters.meta.quota import quota_error, used_up
from klapper.adapters.public_media import NotServed, media_base, public_url

log = logging.getLogger(__name__)

#: media read per page by `find`, and pages at most
FIND_PAGE, FIND_PAGES = 25, 8
MEDIA_FIELDS = "id,caption,timestamp,permalink"
METRIC_FIELDS = "like_count,comments_count"
COMMENT_FIELDS = "id,text,username,timestamp,from{id,username}"
INBOX_FIELDS = f"comments.limit(50){{{COMMENT_FIELDS},replies{{{COMMENT_FIELDS}}}}}"


class InstagramAdapter(GraphAdapter):
    """One Instagram professional account."""

    title: ClassVar[str] = "Instagram"
    platform: ClassVar[str] = "instagram"
    rules = PLATFORM.rules

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.user = str(self.settings.get("user") or "")
        self.media_url = media_base(self.settings) or ""
        if not self.user.isdigit() or not self.media_url:
            raise PermanentError(
                f"Instagram account {self.name!r} needs `user: IG_USER_ID` (digits) and"
                " `media_url: https://...` in klapper.yaml"
            )
        self.api = ContainerAPI(
            title="Instagram", publish_path=f"{self.user}/media_publish", status_field="status_code"
        )
        self.pending = Pending(
            folder=self.settings.get("cache_dir"), platform="instagram", account=self.name
        )

    # --- whose the token is ------------------------------------------------------------------

    identity_key: ClassVar[str] = "user_id"

    @property
    def named_id(self) -> str:
        return self.user

    def whose(self) -> dict[str, str]:
        # A person's token publishes for every account they have a role on: the account
        # named must be among them. Meta answers code 100 for one that is not.
        try:
            found = self.graph.call(
                "GET",
                self.user,
                what=f"read Instagram account {self.user}",
                params={"fields": "id,username"},
            )
        except PermanentError:
            me = self.graph.call(
                "GET", "me", what="read whose the token is", params={"fields": "id,name"}
            )
            raise mismatch_error(
                account=self.name,
                platform=self.title,
                stored=f"Facebook user {me.get('name') or '?'} ({me.get('id')}), who cannot"
                f" reach Instagram account {self.user}",
                named=f"Instagram account {self.user}",
            ) from None
        return {"user_id": str(found.get("id") or ""), "username": str(found.get("username") or "")}

    def described(self, recorded: dict[str, str]) -> tuple[str, str]:
        stored = f"@{recorded.get('username') or '?'} (user id {recorded.get('user_id')})"
        return stored, f"Instagram account {self.user}"

    # --- publish ----------------------------------------------------------------------------

    def publish(self, post: Outgoing) -> Published:
        self.check_identity()
        if post.reply_to is not None:
            raise PermanentError(
                "Instagram has no threads; move the follow-up into first_comment: or the caption"
            )
        if not post.media:
            raise PermanentError("an Instagram post needs an image; add `media:` to the post")
        if len(post.media) > PLATFORM.rules.max_media:
            raise PermanentError(
                f"an Instagram carousel holds at most {PLATFORM.rules.max_media} images,"
                f" not {len(post.media)}"
            )
        urls = [self.url_of(media) for media in post.media]
        content = {"caption": post.text, "media": urls, "alt": [m.alt for m in post.media]}
        self.respect_quota()
        media_id = publish_once(
            self.graph,
            api=self.api,
            pending=self.pending,
            key=post.idempotency_key,
            content=content,
            create=lambda: self._create(post, urls),
            timeout=self.timeout,
        )
        if media_id is None:  # the kept container was published by an earlier attempt
            found = self.find(post)
            if found is None:
                raise TransientError(
                    "Instagram published this post on an earlier attempt but it is not among"
                    " the account's recent media yet; klapper looks again later"
                )
            return found
        comment = post.options.get("first_comment")
        if comment:
            self._first_comment(media_id, str(comment))
        return Published(
            remote_id=media_id, url=self._permalink(media_id), published_at=datetime.now(UTC)
        )

    def url_of(self, media: MediaFile) -> str:
        """Where Instagram fetches ``media``: its path in the repository under ``media_url``."""
        try:
            return public_url(base=self.media_url, repo=self.repo, path=media.path)
        except NotServed as exc:
            raise PermanentError(str(exc)) from None

    def _create(self, post: Outgoing, urls: Sequence[str]) -> str:
        if len(urls) == 1:
            return self._container(
                {"image_url": urls[0], "caption": post.text, **_alt(post.media[0])},
                what="create the image container",
            )
        children = [
            self._container(
                {"image_url": url, "is_carousel_item": "true", **_alt(media)},
                what=f"create the container for {media.path.name}",
            )
            for url, media in zip(urls, post.media, strict=True)
        ]
        return self._container(
            {"media_type": "CAROUSEL", "children": ",".join(children), "caption": post.text},
            what="create the carousel container",
        )

    def _container(self, data: Mapping[str, str], *, what: str) -> str:
        answer = self.graph.call("POST", f"{self.user}/media", what=what, data=data)
        if not answer.get("id"):
            raise TransientError(f"Instagram created no container to {what}")
        return str(answer["id"])

    def _first_comment(self, media_id: str, text: str) -> None:
        try:
            self.graph.call(
                "POST",
                f"{media_id}/comments",
                what="post the first comment",
                data={"message": text},
            )
        except AdapterError as exc:
            # The post is out: failing the delivery now would lose its id. Say so and go on.
            log.warning(
                "Instagram account %s: post %s went out but its first comment did not (%s);"
                " add it by hand",
                self.name,
                media_id,
                exc,
            )

    def _permalink(self, media_id: str) -> str | None:
        try:
            answer = self.graph.call(
                "GET", media_id, what="read the post's address", params={"fields": "permalink"}
            )
        except TransientError:
            return None  # the post is out; its address is a nicety
        return str(answer.get("permalink") or "") or None

    def respect_quota(self) -> None:
        """Wait (``RateLimitedError``) while the 24-hour publishing quota is used up."""
        answer = self.graph.call(
            "GET",
            f"{self.user}/content_publishing_limit",
            what="read the publishing quota",
            params={"fields": "quota_usage,config"},
        )
        full = used_up((answer.get("data") or [{}])[0])
        if full is not None:
            used, total, window = full
            raise quota_error(
                title="Instagram",
                what="publishing",
                used=used,
                total=total,
                window=window,
                frees=self._quota_frees,
            )

    def _quota_frees(self, window: timedelta) -> datetime | None:
        """When the oldest post of the window leaves it; None when the media do not show."""
        now = datetime.now(UTC)
        times = [
            created
            for item in self._recent(since=now - window)
            if (created := graph_time(item.get("timestamp"))) is not None
        ]
        return min(times) + window if times else None

    # --- find -------------------------------------------------------------------------------

    def find(self, post: Outgoing) -> Published | None:
        self.check_identity()
        since = find_since(post.due) or datetime.now(UTC) - FIND_WINDOW
        for item in self._recent(since=since):
            if same_text(str(item.get("caption") or ""), post.text):
                return Published(
                    remote_id=str(item["id"]),
                    url=item.get("permalink"),
                    published_at=graph_time(item.get("timestamp")),
                )
        return None

    def _recent(self, *, since: datetime) -> list[dict[str, Any]]:
        """The account's media created since ``since``, newest first."""
        return self.graph.recent(
            f"{self.user}/media",
            since=since,
            fields=MEDIA_FIELDS,
            what="read the account's recent media",
            created=lambda item: graph_time(item.get("timestamp")),
            page=FIND_PAGE,
            most=FIND_PAGES,
        )

    # --- answering comments ----------------------------------------------------------------

    def reply(self, answer: Outgoing) -> Published:
        """A reply under the comment answered (``POST /{comment}/replies``)."""
        comment = self._comment_of(answer)
        made = self.graph.call(
            "POST", f"{comment}/replies", what="answer the comment", data={"message": answer.text}
        )
        if not made.get("id"):
            raise TransientError("Instagram accepted the answer but returned no id")
        return Published(
            remote_id=str(made["id"]), published_at=datetime.now(UTC), ref={"root": comment}
        )

    def find_reply(self, answer: Outgoing) -> Published | None:
        """The account's reply with this text under the comment; None when there is none."""
        comment = self._comment_of(answer)
        for page in self.graph.pages(
            f"{comment}/replies",
            what="read the replies to a comment",
            most=FIND_PAGES,
            params={"fields": "id,text,timestamp,from,username"},
        ):
            for said in page:
                mine = (said.get("from") or {}).get("id") == self.user
                if mine and same_text(str(said.get("text") or ""), answer.text):
                    return Published(
                        remote_id=str(said["id"]),
                        published_at=graph_time(said.get("timestamp")),
                        ref={"root": comment},
                    )
        return None

    @staticmethod
    def _comment_of(answer: Outgoing) -> str:
        if answer.reply_to is None:
            raise PermanentError("an Instagram answer needs the comment it answers")
        return answer.reply_to.root.remote_id

    # --- engagement -------------------------------------------------------------------------

    def metrics(self, remote_ids: Sequence[str]) -> list[Metrics]:
        found = self.graph.by_ids(remote_ids, fields=METRIC_FIELDS, what="read reactions")
        return [_metrics(remote_id, item) for remote_id, item in found.items()]

    def metrics_per_request(self) -> int | None:
        return PLATFORM.lookup_batch

    def interactions(self, *, since: datetime, own_ids: Sequence[str]) -> list[Interaction]:
        """Comments and their replies on the account's posts since ``since``."""
        own = set(own_ids)
        found: list[Interaction] = []
        for media_id, item in self.graph.by_ids(
            own_ids, fields=INBOX_FIELDS, what="read comments"
        ).items():
            for comment in (item.get("comments") or {}).get("data") or []:
                replies = (comment.get("replies") or {}).get("data") or []
                for said, parent in [(comment, media_id), *((r, comment["id"]) for r in replies)]:
                    created = graph_time(said.get("timestamp"))
                    if said.get("id") in own or created is None or created < since:
                        continue
                    author = said.get("from") or {}
                    found.append(
                        Interaction(
                            remote_id=str(said["id"]),
                            kind="reply",
                            author=str(said.get("username") or author.get("username") or "someone"),
                            text=str(said.get("text") or ""),
                            url=None,  # Instagram gives comments no address of their own
                            created_at=created,
                            in_reply_to=str(parent),
                            by_self=author.get("id") == self.user,
                        )
                    )
        return found


def _metrics(remote_id: str, item: Mapping[str, Any]) -> Metrics:
    def count(name: str) -> int | None:
        value = item.get(name)  # like_count is left out when the owner hides likes
        return int(value) if isinstance(value, int) else None

    return Metrics(remote_id=remote_id, likes=count("like_count"), replies=count("comments_count"))


def _alt(media: MediaFile) -> dict[str, str]:
    return {"alt_text": media.alt} if media.alt else {}
