"""A fake Instagram Graph API for one professional account on 127.0.0.1 (on tests/fakes/meta.py).

Routes as Meta documents them: ``POST /{user}/media`` creates a container (``image_url``, which
the fake fetches as Instagram does, only from 127.0.0.1; ``is_carousel_item``; ``CAROUSEL``
with ``children``; caption limits as error 100), ``GET /{container}?fields=status_code`` moves
IN_PROGRESS -> FINISHED after ``finish_after`` reads (ERROR when the image could not be
fetched), ``POST /{user}/media_publish`` (FINISHED containers only, the 24-hour quota as error 9
subcode 2207042), ``GET /{user}/content_publishing_limit``, ``GET /{user}/media`` (newest first,
``since``, cursor pages), ``POST /{media}/comments`` and ``GET /?ids=`` with like and comment
counts and the comments with their replies. ``serve_media(folder)`` serves a repository as the
account's ``media_url``.
"""

from __future__ import annotations

import contextlib
import functools
import pathlib
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.meta import (
    APP_ID,
    APP_SECRET,
    DAY,
    FakeGraph,
    Grant,
    GraphAnswerError,
    Request,
    Route,
    graph_time,
    page_of,
)

USER = "17841400000000001"
USERNAME = "tischlerei.klapper"
SCOPES = (
    "instagram_basic",
    "instagram_content_publish",
    "instagram_manage_comments",
    "pages_show_list",
    "pages_read_engagement",
)


@dataclass
class FakeInstagram(FakeGraph):
    ig_user: str = USER
    quota_total: int = 100  # API-published posts per 24 hours (content_publishing_limit)
    finish_after: int = 1  # status reads a container stays IN_PROGRESS
    containers: dict[str, dict[str, Any]] = field(default_factory=dict)
    media: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> media, oldest first
    comments: dict[str, dict[str, Any]] = field(default_factory=dict)

    def routes(self) -> list[Route]:
        return [
            ("POST", rf"({self.ig_user})/media", "create", _create),
            ("POST", rf"({self.ig_user})/media_publish", "publish", _publish),
            ("GET", rf"({self.ig_user})/content_publishing_limit", "quota", _quota),
            ("GET", rf"({self.ig_user})/media", "media.list", _list_media),
            ("POST", r"(\d+)/comments", "comment", _comment),
            ("POST", r"(\d+)/replies", "reply", _reply),
            ("GET", r"(\d+)/replies", "replies", _replies),
            ("GET", r"(\d+)", "object", _object),
            *super().routes(),
        ]

    def user_token(self, scopes: tuple[str, ...] = SCOPES, lifetime: float = 60 * DAY) -> str:
        return self.issue(kind="user", subject=self.user, scopes=scopes, lifetime=lifetime)

    def add_media(self, caption: str, *, created: float | None = None, by_api: bool = True) -> str:
        with self.lock:
            media_id = self.new_id()
            self.media[media_id] = {
                "id": media_id,
                "caption": caption,
                "created": created or time.time(),
                "likes": 0,
                "by_api": by_api,
            }
            return media_id

    def add_comment(self, on: str, text: str, *, username: str, user_id: str) -> str:
        with self.lock:
            comment_id = self.new_id()
            self.comments[comment_id] = {
                "id": comment_id,
                "on": on,
                "text": text,
                "username": username,
                "from": user_id,
                "created": time.time(),
            }
            return comment_id

    def held(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {"id": m["id"], "text": m["caption"], "reply_to": None}
                for m in sorted(self.media.values(), key=lambda m: m["created"])
            ]

    def published_since(self, since: float) -> int:
        with self.lock:
            return sum(1 for m in self.media.values() if m["by_api"] and m["created"] >= since)

    def read_object(self, object_id: str, fields: list[str], grant: Grant) -> dict[str, Any]:
        media = self.media.get(object_id)
        if media is None:
            return super().read_object(object_id, fields, grant)
        out: dict[str, Any] = {"id": object_id}
        if "like_count" in fields:
            out["like_count"] = media["likes"]
        on = [c for c in self.comments.values() if c["on"] == object_id]
        if "comments_count" in fields:
            out["comments_count"] = len(on)
        if "comments" in fields:
            out["comments"] = {
                "data": [
                    {
                        **_shown(c),
                        "replies": {
                            "data": [
                                _shown(r) for r in self.comments.values() if r["on"] == c["id"]
                            ]
                        },
                    }
                    for c in on
                ]
            }
        return out


def _shown(comment: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": comment["id"],
        "text": comment["text"],
        "username": comment["username"],
        "timestamp": graph_time(comment["created"]),
        "from": {"id": comment["from"], "username": comment["username"]},
    }


def _grant(fake: FakeInstagram, request: Request, scope: str) -> None:
    fake.require(request, kind="user", subject=fake.user, scope=scope)


def _caption(caption: str) -> None:
    if len(caption) > 2200:
        raise GraphAnswerError(100, "(#100) The caption is too long", subcode=2207003)
    if len(re.findall(r"#\w+", caption)) > 30:
        raise GraphAnswerError(100, "(#100) Too many hashtags in the caption", subcode=2207004)
    if len(re.findall(r"@[\w.]+", caption)) > 20:
        raise GraphAnswerError(100, "(#100) Too many mentions in the caption", subcode=2207005)


def fetch(url: str) -> str | None:
    """What went wrong fetching ``url`` as Instagram would (only 127.0.0.1 here); None: fine."""
    if urlsplit(url).hostname != "127.0.0.1":
        return "the media URL is not reachable from this test"
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # 127.0.0.1 only (above)
            kind = answer.headers.get("Content-Type", "")
            return None if kind.startswith("image/") else f"the media is {kind}, not an image"
    except OSError as exc:
        return f"Media download has failed.: {exc}"


def _create(fake: FakeInstagram, request: Request, user: str) -> tuple[int, Any]:
    _grant(fake, request, "instagram_content_publish")
    params = request.params
    _caption(params.get("caption", ""))
    container: dict[str, Any] = {
        "id": fake.new_id(),
        "reads_left": fake.finish_after,
        "caption": params.get("caption", ""),
        "alt": params.get("alt_text"),
        "item": params.get("is_carousel_item") == "true",
        "children": [],
        "error": None,
        "status": "IN_PROGRESS",
        "created": time.time(),
    }
    if params.get("media_type") == "CAROUSEL":
        children = [c for c in params.get("children", "").split(",") if c]
        if not 2 <= len(children) <= 10:
            raise GraphAnswerError(100, "(#100) A carousel holds 2 to 10 items", subcode=2207030)
        for child in children:
            held = fake.containers.get(child)
            if held is None or not held["item"]:
                raise GraphAnswerError(100, f"(#100) {child} is not a carousel item container")
        container["children"] = children
    elif params.get("image_url"):
        container["error"] = fetch(params["image_url"])
    else:
        raise GraphAnswerError(100, "(#100) The parameter image_url is required")
    with fake.lock:
        fake.containers[container["id"]] = container
    return 200, {"id": container["id"]}


def advance(fake: FakeGraph, container: dict[str, Any]) -> str:
    """A container's status after one more read: IN_PROGRESS for ``reads_left`` reads."""
    with fake.lock:
        if container["status"] == "IN_PROGRESS":
            container["reads_left"] -= 1
            if container["reads_left"] < 0:
                container["status"] = "ERROR" if container["error"] else "FINISHED"
        return str(container["status"])


def _publish(fake: FakeInstagram, request: Request, user: str) -> tuple[int, Any]:
    _grant(fake, request, "instagram_content_publish")
    container = fake.containers.get(request.params.get("creation_id", ""))
    if container is None or container["item"]:
        raise GraphAnswerError(100, "(#100) The parameter creation_id is invalid")
    if container["status"] == "PUBLISHED":
        raise GraphAnswerError(100, "(#100) The media has already been published", subcode=2207008)
    if container["status"] != "FINISHED":
        raise GraphAnswerError(9007, "Media ID is not available", subcode=2207027)
    if fake.published_since(time.time() - DAY) >= fake.quota_total:
        raise GraphAnswerError(9, "You reached maximum number of posts", subcode=2207042)
    media_id = fake.add_media(container["caption"])
    with fake.lock:
        container["status"] = "PUBLISHED"
        fake.media[media_id]["children"] = container["children"]
        fake.media[media_id]["alt"] = container["alt"]
    return 200, {"id": media_id}


def _quota(fake: FakeInstagram, request: Request, user: str) -> tuple[int, Any]:
    _grant(fake, request, "instagram_content_publish")
    used = fake.published_since(time.time() - DAY)
    config = {"quota_total": fake.quota_total, "quota_duration": DAY}
    return 200, {"data": [{"quota_usage": used, "config": config}]}


def _list_media(fake: FakeInstagram, request: Request, user: str) -> tuple[int, Any]:
    _grant(fake, request, "instagram_basic")
    since = float(request.params.get("since") or 0)
    with fake.lock:
        media = sorted(
            (m for m in fake.media.values() if m["created"] >= since), key=lambda m: -m["created"]
        )
    shown = [
        {
            "id": m["id"],
            "caption": m["caption"],
            "timestamp": graph_time(m["created"]),
            "permalink": f"https://www.instagram.com/p/{m['id']}/",
        }
        for m in media
    ]
    return 200, page_of(fake, request, shown)


def _comment(fake: FakeInstagram, request: Request, media_id: str) -> tuple[int, Any]:
    _grant(fake, request, "instagram_manage_comments")
    if media_id not in fake.media:
        raise GraphAnswerError(100, f"(#100) Object with ID '{media_id}' does not exist")
    if not request.params.get("message"):
        raise GraphAnswerError(100, "(#100) The parameter message is required")
    comment_id = fake.add_comment(
        media_id, request.params["message"], username=USERNAME, user_id=fake.ig_user
    )
    return 200, {"id": comment_id}


def _reply(fake: FakeInstagram, request: Request, comment_id: str) -> tuple[int, Any]:
    """The account answers a comment on one of its posts (one level: no reply to a reply)."""
    _grant(fake, request, "instagram_manage_comments")
    comment = fake.comments.get(comment_id)
    if comment is None or comment["on"] not in fake.media:
        raise GraphAnswerError(100, f"(#100) Object with ID '{comment_id}' does not exist")
    if not request.params.get("message"):
        raise GraphAnswerError(100, "(#100) The parameter message is required")
    reply_id = fake.add_comment(
        comment_id, request.params["message"], username=USERNAME, user_id=fake.ig_user
    )
    return 200, {"id": reply_id}


def _replies(fake: FakeInstagram, request: Request, comment_id: str) -> tuple[int, Any]:
    _grant(fake, request, "instagram_basic")
    if comment_id not in fake.comments:
        raise GraphAnswerError(100, f"(#100) Object with ID '{comment_id}' does not exist")
    shown = [_shown(c) for c in fake.comments.values() if c["on"] == comment_id]
    return 200, page_of(fake, request, shown[::-1])


def _object(fake: FakeInstagram, request: Request, object_id: str) -> tuple[int, Any]:
    if request.grant is None:
        raise GraphAnswerError(190, "Invalid OAuth access token - Cannot parse access token")
    container = fake.containers.get(object_id)
    if container is not None:
        answer = {"id": object_id, "status_code": advance(fake, container)}
        if container["status"] == "ERROR":
            answer["error_message"] = container["error"]
        return 200, answer
    if object_id in fake.media:
        return 200, {"id": object_id, "permalink": f"https://www.instagram.com/p/{object_id}/"}
    if object_id == fake.ig_user and request.grant.subject == fake.user:
        return 200, {"id": object_id, "username": USERNAME}
    if object_id == fake.ig_user:  # Meta's words for an account the person has no role on
        raise GraphAnswerError(
            100,
            f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be"
            " loaded due to missing permissions, or does not support this operation.",
            subcode=33,
        )
    raise GraphAnswerError(100, f"(#100) Object with ID '{object_id}' does not exist")


# --- media_url and the contract suite's entry point -------------------------------------------


@contextlib.contextmanager
def serve_media(folder: pathlib.Path) -> Iterator[str]:
    """Serve ``folder`` on 127.0.0.1 as the account's ``media_url``; yields its address."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class Case:
    """One Instagram account connected to a running fake (see tests/adapters/test_contract.py)."""

    fake: FakeInstagram
    adapter: Any
    lacks: dict[str, str] = field(
        default_factory=lambda: {
            "replies": "Instagram has no threads: a post answers nothing (first_comment: is a"
            " comment after the post)",
            "text": "every Instagram post is an image or a carousel; the suite adds one",
        }
    )

    def posts(self) -> list[dict[str, Any]]:
        """The account's posts, and its own comments (answers) with what they answer."""
        with self.fake.lock:
            answers = [
                {"id": c["id"], "text": c["text"], "reply_to": c["on"]}
                for c in self.fake.comments.values()
                if c["from"] == self.fake.ig_user
            ]
        return [*self.fake.held(), *answers]

    def reply(self, *, to: str, text: str) -> None:
        self.fake.add_comment(to, text, username="anna.visitor", user_id="4242")

    def fail_next(self, kind: str) -> None:
        self.fake.fail_next(kind, route="publish")


def make_adapter(
    fake: FakeInstagram,
    tmp_path: pathlib.Path,
    *,
    media_url: str,
    token: str | None = None,
    timeout: float = 1.5,
    **settings: Any,
) -> Any:
    from klapper.adapters import create_adapter

    return create_adapter(
        name="shop-ig",
        platform="instagram",
        repo=tmp_path,
        timeout=timeout,
        settings={"user": fake.ig_user, "media_url": media_url, "api_base": fake.url, **settings},
        secrets={
            "access_token": token or fake.user_token(),
            "app_id": APP_ID,
            "app_secret": APP_SECRET,
        },
    )


@contextlib.contextmanager
def adapter_case(tmp_path: pathlib.Path) -> Iterator[Case]:
    fake = FakeInstagram()
    with fake.serve(), serve_media(tmp_path) as media_url:
        adapter = make_adapter(fake, tmp_path, media_url=media_url)
        try:
            yield Case(fake=fake, adapter=adapter)
        finally:
            adapter.close()
