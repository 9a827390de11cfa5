"""A fake Facebook Graph API for one Page on 127.0.0.1 (built on tests/fakes/meta.py).

Routes as Meta documents them: ``POST /{page}/feed`` (message, link, attached_media[n]),
``POST /{page}/photos`` (multipart ``source``, ``alt_text_custom``, ``published``),
``GET /{page}/posts`` (newest first, ``since``, cursor pages), ``POST|GET /{object}/comments``
and ``GET /?ids=`` with reactions, comment and share counts. Only a Page token with
``pages_manage_posts`` may post as the Page.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.meta import (
    APP_ID,
    APP_SECRET,
    FakeGraph,
    Grant,
    GraphAnswerError,
    Request,
    Route,
    graph_time,
    page_of,
)

PAGE = "2222333344445"
PAGE_NAME = "Tischlerei Klapper"
PAGE_SCOPES = (
    "pages_show_list",
    "pages_manage_posts",
    "pages_read_engagement",
    "pages_read_user_content",
    "pages_manage_engagement",
)


@dataclass
class FakeFacebook(FakeGraph):
    page: str = PAGE
    roles: frozenset[str] = frozenset({PAGE})
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> post, oldest first
    comments: dict[str, dict[str, Any]] = field(default_factory=dict)
    photos: dict[str, dict[str, Any]] = field(default_factory=dict)

    def routes(self) -> list[Route]:
        return [
            ("POST", rf"({self.page})/feed", "create", _feed),
            ("POST", rf"({self.page})/photos", "create", _photos),
            ("GET", rf"({self.page})/posts", "posts.list", _list_posts),
            ("POST", r"([\d_]+)/comments", "create", _comment),
            ("GET", r"([\d_]+)/comments", "comments.list", _list_comments),
            ("GET", r"(\d+)", "object", _object),
            *super().routes(),
        ]

    def page_token(self, scopes: tuple[str, ...] = PAGE_SCOPES, *, page: str | None = None) -> str:
        return self.issue(kind="page", subject=page or self.page, scopes=scopes)

    def name_of(self, subject: str) -> str:
        return PAGE_NAME if subject == self.page else super().name_of(subject)

    def add_post(self, message: str, *, created: float | None = None, **extra: Any) -> str:
        with self.lock:
            post_id = f"{self.page}_{self.new_id()}"
            self.posts[post_id] = {
                "id": post_id,
                "message": message,
                "created": created or time.time(),
                "reactions": 0,
                "shares": 0,
                **extra,
            }
            return post_id

    def add_comment(
        self, on: str, message: str, *, by: dict[str, str], created: float | None = None
    ) -> str:
        with self.lock:
            post = on.split("_")[-1] if on in self.posts else on.split("_")[0]
            comment_id = f"{post}_{self.new_id()}"
            self.comments[comment_id] = {
                "id": comment_id,
                "on": on,
                "message": message,
                "from": by,
                "created": created or time.time(),
                "parent": on if on in self.comments else None,  # a reply to a comment
            }
            return comment_id

    def held(self) -> list[dict[str, Any]]:
        """Posts and comments in creation order: ``{"id", "text", "reply_to"}`` each."""
        with self.lock:
            items = [(p["created"], p["id"], p["message"], None) for p in self.posts.values()]
            items += [
                (c["created"], c["id"], c["message"], c["on"]) for c in self.comments.values()
            ]
        return [{"id": i, "text": t, "reply_to": r} for _, i, t, r in sorted(items)]

    def comments_on(self, object_id: str) -> list[dict[str, Any]]:
        with self.lock:
            thread = [c for c in self.comments.values() if c["on"] == object_id]
            replies = [c for c in self.comments.values() if c["on"] in {t["id"] for t in thread}]
        return thread + replies

    def read_object(self, object_id: str, fields: list[str], grant: Grant) -> dict[str, Any]:
        post = self.posts.get(object_id)
        if post is None:
            return super().read_object(object_id, fields, grant)
        out: dict[str, Any] = {"id": object_id}
        if "reactions" in fields:
            out["reactions"] = {"data": [], "summary": {"total_count": post["reactions"]}}
        if "comments" in fields:
            comments = sorted(self.comments_on(object_id), key=lambda c: -c["created"])
            out["comments"] = {
                "data": [_shown(c) for c in comments[:100]],
                "summary": {"total_count": len(comments)},
            }
        if "shares" in fields and post["shares"]:  # Meta leaves out shares nobody made
            out["shares"] = {"count": post["shares"]}
        return out


def _shown(comment: dict[str, Any]) -> dict[str, Any]:
    out = {
        "id": comment["id"],
        "message": comment["message"],
        "from": comment["from"],
        "created_time": graph_time(comment["created"]),
        "permalink_url": f"https://www.facebook.com/{comment['id']}",
    }
    if comment["parent"]:
        out["parent"] = {"id": comment["parent"]}
    return out


def _page_grant(fake: FakeFacebook, request: Request, scope: str) -> None:
    fake.require(request, kind="page", subject=fake.page, scope=scope)


def _feed(fake: FakeFacebook, request: Request, page: str) -> tuple[int, Any]:
    _page_grant(fake, request, "pages_manage_posts")
    params = request.params
    attached = [params[key] for key in sorted(params) if key.startswith("attached_media[")]
    if not (params.get("message") or params.get("link") or attached):
        raise GraphAnswerError(100, "(#100) Missing message or attachment")
    if len(params.get("message", "")) > 63206:
        raise GraphAnswerError(100, "(#100) Param message must be at most 63206 characters long")
    if params.get("link") and not params["link"].startswith(("http://", "https://")):
        raise GraphAnswerError(100, "(#100) The link you shared is not valid")
    photos = []
    for item in attached:
        photo = fake.photos.get(json.loads(item).get("media_fbid", ""))
        if photo is None or photo["published"]:
            raise GraphAnswerError(
                100, "(#100) attached_media must be unpublished photos of the Page"
            )
        photos.append(photo)
    post_id = fake.add_post(params.get("message", ""), link=params.get("link"), photos=photos)
    return 200, {"id": post_id}


def _photos(fake: FakeFacebook, request: Request, page: str) -> tuple[int, Any]:
    _page_grant(fake, request, "pages_manage_posts")
    source = request.files.get("source")
    if source is None and not request.params.get("url"):
        raise GraphAnswerError(324, "(#324) Requires upload file")
    published = request.params.get("published", "true") != "false"
    photo = {
        "id": fake.new_id(),
        "published": published,
        "name": source[0] if source else "",
        "alt": request.params.get("alt_text_custom"),
        "size": len(source[1]) if source else 0,
    }
    with fake.lock:
        fake.photos[photo["id"]] = photo
    if not published:
        return 200, {"id": photo["id"]}
    post_id = fake.add_post(request.params.get("message", ""), photos=[photo])
    return 200, {"id": photo["id"], "post_id": post_id}


def _list_posts(fake: FakeFacebook, request: Request, page: str) -> tuple[int, Any]:
    if request.grant is None:
        raise GraphAnswerError(190, "Invalid OAuth access token - Cannot parse access token")
    since = float(request.params.get("since") or 0)
    with fake.lock:
        posts = sorted(
            (p for p in fake.posts.values() if p["created"] >= since), key=lambda p: -p["created"]
        )
    shown = [
        {"id": p["id"], "message": p["message"], "created_time": graph_time(p["created"])}
        for p in posts
    ]
    return 200, page_of(fake, request, shown)


def _comment(fake: FakeFacebook, request: Request, object_id: str) -> tuple[int, Any]:
    _page_grant(fake, request, "pages_manage_engagement")
    if object_id not in fake.posts and object_id not in fake.comments:
        raise GraphAnswerError(100, f"(#100) Object with ID '{object_id}' does not exist")
    if not (request.params.get("message") or request.files.get("source")):
        raise GraphAnswerError(100, "(#100) Missing message or attachment")
    comment_id = fake.add_comment(
        object_id,
        request.params.get("message", ""),
        by={"id": fake.page, "name": PAGE_NAME},
    )
    return 200, {"id": comment_id}


def _list_comments(fake: FakeFacebook, request: Request, object_id: str) -> tuple[int, Any]:
    if request.grant is None:
        raise GraphAnswerError(190, "Invalid OAuth access token - Cannot parse access token")
    found = (
        fake.comments_on(object_id)
        if request.params.get("filter") == "stream"
        else [c for c in fake.comments.values() if c["on"] == object_id]
    )
    newest = request.params.get("order") == "reverse_chronological"
    found = sorted(found, key=lambda c: -c["created"] if newest else c["created"])
    return 200, page_of(fake, request, [_shown(c) for c in found])


def _object(fake: FakeFacebook, request: Request, object_id: str) -> tuple[int, Any]:
    """A Page read with the person's token: its name and, for people with a role, its token."""
    grant = request.grant
    if (
        grant is None
        or grant.kind != "user"
        or (grant.expires_at and grant.expires_at < time.time())
    ):
        raise GraphAnswerError(190, "Invalid OAuth access token - Cannot parse access token")
    if object_id != fake.page:
        raise GraphAnswerError(100, f"(#100) Object with ID '{object_id}' does not exist")
    answer: dict[str, Any] = {"id": fake.page, "name": PAGE_NAME}
    if object_id in fake.roles and "access_token" in request.params.get("fields", ""):
        scopes = sorted(grant.scopes & set(PAGE_SCOPES))
        answer["access_token"] = fake.issue(kind="page", subject=fake.page, scopes=scopes)
    return 200, answer


# --- the contract suite's entry point ---------------------------------------------------------


@dataclass
class Case:
    """One Facebook Page connected to a running fake (see tests/adapters/test_contract.py)."""

    fake: FakeFacebook
    adapter: Any
    lacks: dict[str, str] = field(default_factory=dict)

    def posts(self) -> list[dict[str, Any]]:
        return self.fake.held()

    def reply(self, *, to: str, text: str) -> None:
        self.fake.add_comment(to, text, by={"id": "4242", "name": "Anna Visitor"})

    def fail_next(self, kind: str) -> None:
        self.fake.fail_next(kind, route="create")


def make_adapter(
    fake: FakeFacebook,
    tmp_path: pathlib.Path,
    *,
    token: str | None = None,
    timeout: float = 1.5,
    **settings: Any,
) -> Any:
    from klapper.adapters import create_adapter

    return create_adapter(
        name="shop",
        platform="facebook",
        repo=tmp_path,
        timeout=timeout,
        settings={"page": fake.page, "api_base": fake.url, **settings},
        secrets={
            "access_token": token or fake.page_token(),
            "app_id": APP_ID,
            "app_secret": APP_SECRET,
        },
    )


@contextlib.contextmanager
def adapter_case(tmp_path: pathlib.Path) -> Iterator[Case]:
    fake = FakeFacebook()
    with fake.serve():
        adapter = make_adapter(fake, tmp_path)
        try:
            yield Case(fake=fake, adapter=adapter)
        finally:
            adapter.close()
