"""Facebook: posts to a Page through the Graph API, as the Page.

Getting a token: ``klapper login ACCOUNT`` with your own Meta app derives the Page access token
(docs/meta.md). Account settings: ``page`` (the Page id), ``graph_version`` (optional), and in
tests ``api_base`` (a fake Graph API).

Text goes to ``/{page}/feed`` with the first link as ``link`` (Facebook builds its preview);
one photo goes to ``/{page}/photos`` with its alt text, several are uploaded unpublished and
attached to one feed post. Thread follow-ups are the Page's comments on the first post. The
Graph API has no idempotency key: after a timeout ``find`` reads the Page's posts since the due
time (and the first post's comments) for the same text.
"""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from klapper.adapters.base import (
    Interaction,
    MediaFile,
    Metrics,
    Outgoing,
    PermanentError,
    Published,
    TransientError,
)
from klapper.adapters.facebook import PLATFORM
from klapper.adapters.matching import FIND_WINDOW, find_since, same_text
from klapper.adapters.meta.account import GraphAdapter

#: posts and comments read per page by `find`, and pages at most
FIND_PAGE, FIND_PAGES = 25, 8
METRIC_FIELDS = (
    "reactions.summary(total_count).limit(0),"
    "comments.filter(stream).summary(total_count).limit(0),shares"
)
COMMENT_FIELDS = "id,message,from{id,name},created_time,permalink_url,parent{id}"
INBOX_FIELDS = (
    f"comments.filter(stream).order(reverse_chronological).limit(100){{{COMMENT_FIELDS}}}"
)
_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")


def post_url(remote_id: str) -> str:
    """Where a person opens a post or comment ("PAGEID_POSTID" resolves on facebook.com)."""
    return f"https://www.facebook.com/{remote_id}"


def graph_time(value: Any) -> datetime | None:
    """A Graph API time ("2026-12-01T12:00:00+0000") as aware UTC."""
    try:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S%z").astimezone(UTC)
    except ValueError:
        return None


class FacebookAdapter(GraphAdapter):
    """One Facebook Page."""

    title: ClassVar[str] = "Facebook"
    platform: ClassVar[str] = "facebook"
    rules = PLATFORM.rules

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.page = str(self.settings.get("page") or "")
        if not self.page.isdigit():
            raise PermanentError(
                f"Facebook account {self.name!r} needs `page: PAGE_ID` (digits) in klapper.yaml"
            )

    # --- whose the token is ------------------------------------------------------------------

    identity_key: ClassVar[str] = "page_id"

    @property
    def named_id(self) -> str:
        return self.page

    def whose(self) -> dict[str, str]:
        # A Page token's /me is the Page itself (a person's token would show the person).
        me = self.graph.call(
            "GET", "me", what="read whose the token is", params={"fields": "id,name"}
        )
        return {"page_id": str(me.get("id") or ""), "page_name": str(me.get("name") or "")}

    def described(self, recorded: dict[str, str]) -> tuple[str, str]:
        stored = f"{recorded.get('page_name') or '?'} (id {recorded.get('page_id')})"
        return stored, f"Page {self.page}"

    # --- publish ----------------------------------------------------------------------------

    def publish(self, post: Outgoing) -> Published:
        self.check_identity()
        if post.reply_to is not None:
            return self._comment(post)
        if len(post.media) == 1:
            answer = self.graph.call(
                "POST",
                f"{self.page}/photos",
                what="publish the photo post",
                data={"message": post.text, **_alt(post.media[0])},
                files=_source(post.media[0]),
            )
            remote_id = str(answer.get("post_id") or "")
        else:
            data: dict[str, str] = {"message": post.text}
            if post.media:
                for index, media in enumerate(post.media):
                    photo = self.graph.call(
                        "POST",
                        f"{self.page}/photos",
                        what=f"upload photo {media.path.name}",
                        data={"published": "false", **_alt(media)},
                        files=_source(media),
                    )
                    data[f"attached_media[{index}]"] = json.dumps({"media_fbid": photo["id"]})
            elif link := _URL.search(post.text):
                data["link"] = link.group(0)  # Facebook shows its preview
            answer = self.graph.call(
                "POST", f"{self.page}/feed", what="publish the post", data=data
            )
            remote_id = str(answer.get("id") or "")
        if not remote_id:
            raise TransientError("Facebook accepted the post but returned no id")
        return Published(
            remote_id=remote_id, url=post_url(remote_id), published_at=datetime.now(UTC)
        )

    def _comment(self, post: Outgoing) -> Published:
        assert post.reply_to is not None
        root = post.reply_to.root.remote_id
        if len(post.media) > 1:
            raise PermanentError(
                f"a Facebook thread follow-up is a comment and takes one photo, not"
                f" {len(post.media)}; move the others into the first part"
            )
        answer = self.graph.call(
            "POST",
            f"{root}/comments",
            what="publish the thread follow-up as a comment",
            data={"message": post.text},
            files=_source(post.media[0]) if post.media else None,
        )
        if not answer.get("id"):
            raise TransientError("Facebook accepted the comment but returned no id")
        remote_id = str(answer["id"])
        return Published(
            remote_id=remote_id,
            url=post_url(remote_id),
            published_at=datetime.now(UTC),
            ref={"root": root},
        )

    # --- find -------------------------------------------------------------------------------

    def find(self, post: Outgoing) -> Published | None:
        self.check_identity()
        since = find_since(post.due) or datetime.now(UTC) - FIND_WINDOW
        if post.reply_to is not None:
            root = post.reply_to.root.remote_id
            for comment in self._comments(root, since=since):
                if (comment.get("from") or {}).get("id") == self.page and _same(comment, post):
                    return self._found(comment, ref={"root": root})
            return None
        for page in self.graph.pages(
            f"{self.page}/posts",
            what="read the Page's recent posts",
            most=FIND_PAGES,
            params={
                "fields": "id,message,created_time",
                "since": int(since.timestamp()),
                "limit": FIND_PAGE,
            },
        ):
            for found in page:
                if _same(found, post):
                    return self._found(found)
        return None

    def _found(self, item: Mapping[str, Any], *, ref: Mapping[str, Any] | None = None) -> Published:
        remote_id = str(item["id"])
        return Published(
            remote_id=remote_id,
            url=post_url(remote_id),
            published_at=graph_time(item.get("created_time")),
            ref=dict(ref or {}),
        )

    def _comments(self, remote_id: str, *, since: datetime) -> Iterator[dict[str, Any]]:
        for page in self.graph.pages(
            f"{remote_id}/comments",
            what="read the comments on a post",
            most=FIND_PAGES,
            params={
                "fields": COMMENT_FIELDS,
                "filter": "stream",
                "order": "reverse_chronological",
                "limit": FIND_PAGE,
            },
        ):
            for comment in page:
                created = graph_time(comment.get("created_time"))
                if created is not None and created < since:
                    return  # newest first: the rest is older
                yield comment

    # --- engagement -------------------------------------------------------------------------

    def metrics(self, remote_ids: Sequence[str]) -> list[Metrics]:
        # The Page's posts only: our follow-ups are comments, which have no shares to read.
        posts = [i for i in remote_ids if i.startswith(f"{self.page}_")]
        found = self.graph.by_ids(posts, fields=METRIC_FIELDS, what="read reactions")
        return [_metrics(remote_id, item) for remote_id, item in found.items()]

    def metrics_per_request(self) -> int | None:
        return PLATFORM.lookup_batch

    def interactions(self, *, since: datetime, own_ids: Sequence[str]) -> list[Interaction]:
        """Comments and replies on the Page's posts since ``since`` (mentions need a webhook)."""
        own = set(own_ids)
        posts = [i for i in own_ids if i.startswith(f"{self.page}_")]
        found = []
        for post_id, item in self.graph.by_ids(
            posts, fields=INBOX_FIELDS, what="read comments"
        ).items():
            for comment in (item.get("comments") or {}).get("data") or []:
                created = graph_time(comment.get("created_time"))
                if comment.get("id") in own or created is None or created < since:
                    continue
                author = comment.get("from") or {}
                found.append(
                    Interaction(
                        remote_id=str(comment["id"]),
                        kind="reply",
                        author=str(author.get("name") or author.get("id") or "someone"),
                        text=str(comment.get("message") or ""),
                        url=comment.get("permalink_url") or post_url(str(comment["id"])),
                        created_at=created,
                        in_reply_to=(comment.get("parent") or {}).get("id") or post_id,
                        by_self=author.get("id") == self.page,
                    )
                )
        return found


def _same(item: Mapping[str, Any], post: Outgoing) -> bool:
    return same_text(str(item.get("message") or ""), post.text)


def _metrics(remote_id: str, item: Mapping[str, Any]) -> Metrics:
    def total(edge: str) -> int | None:
        count = ((item.get(edge) or {}).get("summary") or {}).get("total_count")
        return int(count) if count is not None else None

    # Meta leaves `shares` out of a post nobody shared: for a post it returned, that is 0.
    shares = (item.get("shares") or {}).get("count", 0)
    return Metrics(
        remote_id=remote_id,
        likes=total("reactions"),
        replies=total("comments"),
        reposts=int(shares),
    )


def _alt(media: MediaFile) -> dict[str, str]:
    return {"alt_text_custom": media.alt} if media.alt else {}


def _source(media: MediaFile) -> dict[str, tuple[str, bytes, str]]:
    try:
        data = Path(media.path).read_bytes()
    except OSError as exc:
        raise PermanentError(f"cannot read image {media.path}: {exc.strerror}") from exc
    mime = media.mime or mimetypes.guess_type(media.path.name)[0] or "application/octet-stream"
    return {"source": (media.path.name, data, mime)}
