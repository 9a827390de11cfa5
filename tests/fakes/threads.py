"""A fake Threads API (graph.threads.net) on 127.0.0.1, answering as Meta's Threads docs show.

Containers: ``POST /{user}/threads`` (``me`` or the profile's id) with ``media_type`` TEXT,
IMAGE (``image_url`` fetched from 127.0.0.1 only, as Threads fetches it) or CAROUSEL (2 to 20
``is_carousel_item`` children), ``reply_to_id``, ``link_attachment``; 500 characters and 5 links
at most (error 100). ``GET /{container}?fields=status`` moves IN_PROGRESS -> FINISHED after
``finish_after`` reads (ERROR when the image could not be fetched), ``POST /{user}/threads_publish``
publishes FINISHED ones within the quota (250 posts, 1,000 replies in 24 hours), which
``GET /{user}/threads_publishing_limit`` reports. ``GET /{user}/threads`` (own posts, not
replies), ``/{user}/replies`` and ``/{user}/mentions`` list newest first with ``since`` and
cursor pages; ``/{id}/conversation`` every reply under a post; ``/{id}/insights`` likes,
replies, reposts, quotes and views (``shown`` leaves some out). The consent page
(``/oauth/authorize``, a 302 to the redirect URI), the code exchange (``POST
/oauth/access_token``), ``th_exchange_token`` and ``th_refresh_token`` (tokens 24 hours old and
unexpired only). Errors, rate limits, drops and slow answers come from ``tests.fakes.meta``.
"""

from __future__ import annotations

import contextlib
import pathlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from klapper.adapters.threads import THREADS_VERSION
from klapper.adapters.threads.login import SCOPES
from tests.fakes.instagram import advance, fetch, serve_media
from tests.fakes.meta import (
    APP_ID,
    APP_SECRET,
    DAY,
    FakeGraph,
    GraphAnswerError,
    Request,
    Route,
    graph_time,
    page_of,
)
from tests.fakes.meta import _dialog as meta_dialog

USER = "25000000000000001"
USERNAME = "tischlerei.klapper"
SHORT_LIVED, LONG_LIVED = 3600, 5_183_944  # what Meta's examples show
METRICS = ("views", "likes", "replies", "reposts", "quotes")


@dataclass
class FakeThreads(FakeGraph):
    version: str = THREADS_VERSION
    user: str = USER
    quota_total: int = 250
    reply_quota_total: int = 1000
    finish_after: int = 1  # status reads a container stays IN_PROGRESS
    shown: tuple[str, ...] = METRICS  # the insights Meta answers with
    containers: dict[str, dict[str, Any]] = field(default_factory=dict)
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)  # ours and others'
    born: dict[str, float] = field(default_factory=dict)  # token -> when it was issued

    def routes(self) -> list[Route]:
        me = rf"(?:me|{self.user})"
        return [
            ("POST", rf"{me}/threads", "create", _create),
            ("POST", rf"{me}/threads_publish", "publish", _publish),
            ("GET", rf"{me}/threads_publishing_limit", "quota", _quota),
            ("GET", rf"{me}/(threads|replies|mentions)", "list", _list),
            ("GET", r"(\d+)/insights", "insights", _insights),
            ("GET", r"(\d+)/conversation", "conversation", _conversation),
            ("GET", r"(me|\d+)", "object", _object),
            ("GET", r"\x00oauth/authorize", "authorize", _authorize),
            ("POST", r"\x00oauth/access_token", "code", _code),
            ("GET", r"\x00access_token", "exchange", _exchange),
            ("GET", r"\x00refresh_access_token", "refresh", _refresh),
        ]

    # --- test controls ----------------------------------------------------------------------

    def user_token(
        self, scopes: tuple[str, ...] = SCOPES, *, lifetime: float = 60 * DAY, age: float = 0
    ) -> str:
        token = self.issue(kind="user", subject=self.user, scopes=scopes, lifetime=lifetime)
        self.born[token] = time.time() - age
        return token

    def add_post(
        self,
        text: str,
        *,
        reply_to: str | None = None,
        username: str = USERNAME,
        created: float | None = None,
        by_api: bool = True,
    ) -> str:
        with self.lock:
            post_id = self.new_id()
            self.posts[post_id] = {
                "id": post_id,
                "text": text,
                "reply_to": reply_to,
                "username": username,
                "created": created or time.time(),
                "by_api": by_api and username == USERNAME,
                "media": [],
                "counts": {"views": 40, "likes": 3, "reposts": 1, "quotes": 0},
            }
            return post_id

    def held(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {"id": p["id"], "text": p["text"], "reply_to": p["reply_to"]}
                for p in sorted(self.posts.values(), key=lambda p: p["created"])
                if p["username"] == USERNAME
            ]

    def published_since(self, since: float, *, replies: bool) -> int:
        with self.lock:
            return sum(
                1
                for p in self.posts.values()
                if p["by_api"] and p["created"] >= since and bool(p["reply_to"]) == replies
            )


def _grant(fake: FakeThreads, request: Request, scope: str) -> None:
    fake.require(request, kind="user", subject=fake.user, scope=scope)


def _shown(fake: FakeThreads, post: dict[str, Any]) -> dict[str, Any]:
    out = {
        "id": post["id"],
        "text": post["text"],
        "username": post["username"],
        "timestamp": graph_time(post["created"]),
        "permalink": f"https://www.threads.net/@{post['username']}/post/{post['id']}",
        "is_reply_owned_by_me": post["username"] == USERNAME,
    }
    if post["reply_to"]:
        out["replied_to"] = {"id": post["reply_to"]}
    return out


def _create(fake: FakeThreads, request: Request) -> tuple[int, Any]:
    _grant(fake, request, "threads_content_publish")
    params = request.params
    text = params.get("text", "")
    if len(text) > 500:
        raise GraphAnswerError(100, "Param text must be at most 500 characters long.")
    links = set(re.findall(r"https?://\S+", text)) | (
        {params["link_attachment"]} if params.get("link_attachment") else set()
    )
    if len(links) > 5:
        raise GraphAnswerError(100, "THREADS_API__LINK_LIMIT_EXCEEDED")
    reply_to = params.get("reply_to_id")
    if reply_to:
        _grant(fake, request, "threads_manage_replies")
        if reply_to not in fake.posts:
            raise GraphAnswerError(100, f"(#100) Object with ID '{reply_to}' does not exist")
    kind = params.get("media_type")
    container: dict[str, Any] = {
        "id": fake.new_id(),
        "reads_left": fake.finish_after,
        "text": text,
        "reply_to": reply_to,
        "item": params.get("is_carousel_item") == "true",
        "alt": params.get("alt_text"),
        "children": [],
        "link": params.get("link_attachment"),
        "error": None,
        "status": "IN_PROGRESS",
    }
    if kind == "TEXT":
        if not text:
            raise GraphAnswerError(100, "(#100) The parameter text is required for TEXT")
    elif kind == "IMAGE":
        if not params.get("image_url"):
            raise GraphAnswerError(100, "(#100) The parameter image_url is required")
        container["error"] = fetch(params["image_url"]) and "FAILED_DOWNLOADING_IMAGE"
        container["image"] = params["image_url"]
    elif kind == "CAROUSEL":
        children = [c for c in params.get("children", "").split(",") if c]
        if not 2 <= len(children) <= 20:
            raise GraphAnswerError(100, "(#100) A carousel holds 2 to 20 items")
        for child in children:
            held = fake.containers.get(child)
            if held is None or not held["item"]:
                raise GraphAnswerError(100, f"(#100) {child} is not a carousel item container")
        container["children"] = children
    else:
        raise GraphAnswerError(100, "(#100) The parameter media_type is required")
    with fake.lock:
        fake.containers[container["id"]] = container
    return 200, {"id": container["id"]}


def _publish(fake: FakeThreads, request: Request) -> tuple[int, Any]:
    _grant(fake, request, "threads_content_publish")
    container = fake.containers.get(request.params.get("creation_id", ""))
    if container is None or container["item"]:
        raise GraphAnswerError(100, "(#100) The parameter creation_id is invalid")
    if container["status"] != "FINISHED":
        raise GraphAnswerError(24, "The media is not ready for publishing", subcode=4279009)
    reply = bool(container["reply_to"])
    total = fake.reply_quota_total if reply else fake.quota_total
    if fake.published_since(time.time() - DAY, replies=reply) >= total:
        raise GraphAnswerError(4, "(#4) The profile reached its publishing limit")
    post_id = fake.add_post(container["text"], reply_to=container["reply_to"])
    with fake.lock:
        container["status"] = "PUBLISHED"
        fake.posts[post_id]["media"] = [
            fake.containers[c].get("image") for c in container["children"]
        ] or [container.get("image")]
        fake.posts[post_id]["alt"] = [container["alt"]]
        fake.posts[post_id]["link"] = container["link"]
    return 200, {"id": post_id}


def _quota(fake: FakeThreads, request: Request) -> tuple[int, Any]:
    _grant(fake, request, "threads_content_publish")
    since = time.time() - DAY
    row = {
        "quota_usage": fake.published_since(since, replies=False),
        "config": {"quota_total": fake.quota_total, "quota_duration": DAY},
        "reply_quota_usage": fake.published_since(since, replies=True),
        "reply_config": {"quota_total": fake.reply_quota_total, "quota_duration": DAY},
    }
    wanted = request.params.get("fields", "").split(",")
    return 200, {"data": [{k: v for k, v in row.items() if k in wanted}]}


def _list(fake: FakeThreads, request: Request, edge: str) -> tuple[int, Any]:
    _grant(fake, request, "threads_basic")
    if edge == "mentions":
        _grant(fake, request, "threads_manage_mentions")
    since = float(request.params.get("since") or 0)
    mention = f"@{USERNAME}"

    def listed(post: dict[str, Any]) -> bool:
        if edge == "mentions":
            return post["username"] != USERNAME and mention in post["text"]
        return post["username"] == USERNAME and bool(post["reply_to"]) == (edge == "replies")

    with fake.lock:
        posts = sorted(
            (p for p in fake.posts.values() if p["created"] >= since and listed(p)),
            key=lambda p: -p["created"],
        )
        shown = [_shown(fake, p) for p in posts]
    return 200, page_of(fake, request, shown)


def _insights(fake: FakeThreads, request: Request, post_id: str) -> tuple[int, Any]:
    _grant(fake, request, "threads_manage_insights")
    post = fake.posts.get(post_id)
    if post is None:
        raise GraphAnswerError(100, f"(#100) Object with ID '{post_id}' does not exist")
    with fake.lock:
        counts = {
            **post["counts"],
            "replies": sum(1 for p in fake.posts.values() if p["reply_to"] == post_id),
        }
    wanted = [m for m in request.params.get("metric", "").split(",") if m in fake.shown]
    rows = [
        {
            "name": name,
            "period": "lifetime",
            "values": [{"value": counts[name]}],
            "title": name.title(),
            "id": f"{post_id}/insights/{name}/lifetime",
        }
        for name in wanted
    ]
    return 200, {"data": rows}


def _conversation(fake: FakeThreads, request: Request, post_id: str) -> tuple[int, Any]:
    _grant(fake, request, "threads_read_replies")
    if post_id not in fake.posts:
        raise GraphAnswerError(100, f"(#100) Object with ID '{post_id}' does not exist")
    with fake.lock:
        below, found = {post_id}, []
        for post in sorted(fake.posts.values(), key=lambda p: p["created"]):
            if post["reply_to"] in below:
                below.add(post["id"])
                found.append(_shown(fake, post))
    if request.params.get("reverse", "true") == "true":
        found.reverse()
    return 200, page_of(fake, request, found)


def _object(fake: FakeThreads, request: Request, object_id: str) -> tuple[int, Any]:
    _grant(fake, request, "threads_basic")
    container = fake.containers.get(object_id)
    if container is not None:
        answer = {"id": object_id, "status": advance(fake, container)}
        if container["status"] == "ERROR":
            answer["error_message"] = container["error"]
        return 200, answer
    if object_id in fake.posts:
        return 200, _shown(fake, fake.posts[object_id])
    if object_id in ("me", fake.user):
        return 200, {"id": fake.user, "username": USERNAME}
    raise GraphAnswerError(100, f"(#100) Object with ID '{object_id}' does not exist")


# --- tokens -----------------------------------------------------------------------------------


def _authorize(fake: FakeThreads, request: Request) -> tuple[int, Any, dict[str, str]]:
    status, body, headers = meta_dialog(fake, request)  # Facebook Login's, with Threads' "#_"
    return status, body, {"Location": headers["Location"] + "#_"}


def _code(fake: FakeThreads, request: Request) -> tuple[int, Any]:
    params = request.params
    if params.get("client_id") != APP_ID or params.get("client_secret") != APP_SECRET:
        raise GraphAnswerError(1, "Error validating client secret.")
    if params.get("grant_type") != "authorization_code":
        raise GraphAnswerError(100, "Unsupported grant_type")
    with fake.lock:
        redirect_uri, scopes = fake._codes.pop(params.get("code", ""), ("", frozenset()))
    if not redirect_uri or redirect_uri != params.get("redirect_uri"):
        raise GraphAnswerError(100, "Error validating verification code.")
    token = fake.user_token(tuple(sorted(scopes)), lifetime=SHORT_LIVED)
    return 200, {"access_token": token, "user_id": int(fake.user)}


def _exchange(fake: FakeThreads, request: Request) -> tuple[int, Any]:
    params = request.params
    if params.get("grant_type") != "th_exchange_token":
        raise GraphAnswerError(100, "Unsupported grant_type")
    if params.get("client_secret") != APP_SECRET:
        raise GraphAnswerError(1, "Error validating client secret.")
    grant = fake.tokens.get(params.get("access_token", ""))
    if grant is None or grant.expires_at < time.time():
        raise GraphAnswerError(190, "Invalid OAuth access token.")
    token = fake.user_token(tuple(sorted(grant.scopes)), lifetime=LONG_LIVED)
    return 200, {"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED}


def _refresh(fake: FakeThreads, request: Request) -> tuple[int, Any]:
    old = request.params.get("access_token", "")
    grant = fake.tokens.get(old)
    if request.params.get("grant_type") != "th_refresh_token":
        raise GraphAnswerError(100, "Unsupported grant_type")
    if grant is None or (grant.expires_at and grant.expires_at < time.time()):
        raise GraphAnswerError(190, "Error validating access token: Session has expired")
    if time.time() - fake.born.get(old, time.time()) < DAY:
        raise GraphAnswerError(
            100, "(#100) The access token must be at least 24 hours old to be refreshed"
        )
    token = fake.user_token(tuple(sorted(grant.scopes)), lifetime=LONG_LIVED)
    return 200, {"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED}


# --- the contract suite's entry point ---------------------------------------------------------


@dataclass
class Case:
    """One Threads profile connected to a running fake (see tests/adapters/test_contract.py)."""

    fake: FakeThreads
    adapter: Any
    lacks: dict[str, str] = field(default_factory=dict)

    def posts(self) -> list[dict[str, Any]]:
        return self.fake.held()

    def reply(self, *, to: str, text: str) -> None:
        self.fake.add_post(text, reply_to=to, username="anna.visitor")

    def fail_next(self, kind: str) -> None:
        self.fake.fail_next(kind, route="publish")


def make_adapter(
    fake: FakeThreads,
    tmp_path: pathlib.Path,
    *,
    media_url: str = "https://media.example/repo",
    token: str | None = None,
    timeout: float = 1.5,
    secrets: dict[str, str] | None = None,
    **settings: Any,
) -> Any:
    from klapper.adapters import create_adapter

    return create_adapter(
        name="shop-threads",
        platform="threads",
        repo=tmp_path,
        timeout=timeout,
        settings={"media_url": media_url, "api_base": fake.url, **settings},
        secrets=secrets
        or {
            "access_token": token or fake.user_token(),
            "user_id": fake.user,
            "app_id": APP_ID,
            "app_secret": APP_SECRET,
        },
    )


@contextlib.contextmanager
def adapter_case(tmp_path: pathlib.Path) -> Iterator[Case]:
    fake = FakeThreads()
    with fake.serve(), serve_media(tmp_path) as media_url:
        adapter = make_adapter(fake, tmp_path, media_url=media_url)
        try:
            yield Case(fake=fake, adapter=adapter)
        finally:
            adapter.close()
