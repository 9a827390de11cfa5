"""The fake LinkedIn's routes: one function per endpoint, each checking what LinkedIn checks."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from klapper import testing as faults
from tests.fakes.linkedin import (
    CLIENT_ID,
    CLIENT_SECRET,
    EXPIRED,
    THROTTLED,
    Answer,
    FakeLinkedIn,
    Token,
    query_value,
)

Result = tuple[int, dict[str, str], Any, str | None]
VISIBILITIES = {"PUBLIC", "CONNECTIONS", "LOGGED_IN"}
FAILURES: dict[str, tuple[int, Any]] = {
    "server_error": (500, {"status": 500, "message": "Internal Server Error"}),
    "bad_gateway": (502, b"<html><body>502 Bad Gateway</body></html>"),
    "rate_limit": (429, THROTTLED),
    "auth": (401, EXPIRED),
    "forbidden": (
        403,
        {
            "status": 403,
            "serviceErrorCode": 100,
            "code": "ACCESS_DENIED",
            "message": "Not enough permissions to access this resource",
        },
    ),
    "invalid": (
        422,
        {
            "status": 422,
            "message": "Field Value validation failed in REQUEST_BODY:"
            " Data Processing Exception while processing fields [/commentary]",
        },
    ),
}


def route(
    fake: FakeLinkedIn, method: str, path: str, query: str, headers: dict[str, str], body: bytes
) -> Result:
    """Answer one request: (status, headers, JSON-able or bytes payload, "drop"/"slow"/None)."""
    for verb, pattern, name, handler in ROUTES:
        match = re.fullmatch(pattern, path)
        if verb != method or match is None:
            continue
        failure = fake.take_failure(name)
        if failure == "drop":
            return 0, {}, None, "drop"
        if failure in faults.HTTP_FAULTS:
            status, out, raw = faults.answer(failure)
            return status, out, raw, None
        if failure in FAILURES:
            status, payload = FAILURES[failure]
            kind = {} if isinstance(payload, dict) else {"Content-Type": "text/html"}
            return status, kind, payload, None
        try:
            if any(":" in group for group in match.groups()):
                raise Answer(400, message="URNs in the path must be URL-encoded")
            if path.startswith("/rest/"):
                _versioned(headers)
            groups = map(unquote, match.groups())
            status, out, payload = handler(fake, query, headers, body, *groups)
        except Answer as answer:
            return answer.status, {}, answer.body, None
        return status, out, payload, "slow" if failure == "timeout_after_accept" else None
    return 404, {}, {"status": 404, "message": f"No route for {method} {path}"}, None


def _versioned(headers: dict[str, str]) -> None:
    if not re.fullmatch(r"\d{6}", headers.get("linkedin-version", "")):
        raise Answer(
            400,
            code="VERSION_MISSING",
            message="A version must be present. Please"
            " specify a version by adding the LinkedIn-Version header.",
        )
    if headers.get("x-restli-protocol-version") != "2.0.0":
        raise Answer(400, message="X-Restli-Protocol-Version 2.0.0 is required")


def _json(body: bytes) -> dict[str, Any]:
    try:
        return dict(json.loads(body))
    except (ValueError, TypeError):
        raise Answer(400, message="Invalid JSON in request body") from None


def _image_ok(fake: FakeLinkedIn, urn: str, owner: str) -> None:
    image = fake.images.get(urn)
    if image is None or image["status"] != "AVAILABLE" or image["owner"] != owner:
        raise Answer(422, message=f"Image {urn} is not AVAILABLE for {owner}")


# --- posts ------------------------------------------------------------------------------------


def create_post(fake: FakeLinkedIn, query: str, headers: dict[str, str], body: bytes) -> tuple:
    grant = fake.grant(headers)
    post = _json(body)
    author = str(post.get("author", ""))
    fake.require(grant, author, "w")
    text = str(post.get("commentary", ""))
    if len(text) > 3000:
        raise Answer(422, message="/commentary: length of 3001+ exceeds the maximum of 3000")
    if post.get("visibility") not in VISIBILITIES:
        raise Answer(422, message=f"/visibility: {post.get('visibility')!r} is not allowed")
    if post.get("lifecycleState") != "PUBLISHED" or "feedDistribution" not in post.get(
        "distribution", {}
    ):
        raise Answer(422, message="/distribution/feedDistribution and lifecycleState required")
    content = post.get("content") or {}
    images = content.get("multiImage", {}).get("images") or (
        [content["media"]] if "media" in content else []
    )
    if "multiImage" in content and not 2 <= len(images) <= 20:
        raise Answer(422, message="/content/multiImage/images: between 2 and 20 images")
    for image in images:
        _image_ok(fake, image.get("id", ""), author)
    with fake.lock:
        if fake.reject_duplicates:
            for other in fake.posts.values():
                if other["author"] == author and other["commentary"] == text:
                    raise Answer(
                        422,
                        code="DUPLICATE_POST",
                        message=f"Content is a duplicate of {other['id']}",
                    )
        urn = fake.new_urn("ugcPost" if "multiImage" in content else "share")
        now = fake.now_ms()
        fake.posts[urn] = {
            **post,
            "id": urn,
            "createdAt": now,
            "publishedAt": now,
            "lastModifiedAt": now,
        }
    return 201, {"x-restli-id": urn, "x-linkedin-id": urn}, None


def list_posts(fake: FakeLinkedIn, query: str, headers: dict[str, str], body: bytes) -> tuple:
    grant = fake.grant(headers)
    if query_value(query, "q") != "author":
        raise Answer(400, message="finder q=author is required")
    author = str(query_value(query, "author") or "")
    fake.require(grant, author, "r")
    start = int(str(query_value(query, "start") or 0))
    count = min(int(str(query_value(query, "count") or 10)), 100)
    key = "lastModifiedAt" if query_value(query, "sortBy") != "CREATED" else "createdAt"
    with fake.lock:
        mine = sorted(
            (p for p in fake.posts.values() if p["author"] == author),
            key=lambda p: (p[key], p["id"]),
            reverse=True,
        )
    return (
        200,
        {},
        {
            "elements": mine[start : start + count],
            "paging": {"start": start, "count": count, "links": []},
        },
    )


# --- images -----------------------------------------------------------------------------------


def init_upload(fake: FakeLinkedIn, query: str, headers: dict[str, str], body: bytes) -> tuple:
    grant = fake.grant(headers)
    if query_value(query, "action") != "initializeUpload":
        raise Answer(400, message="action=initializeUpload is required")
    owner = str(_json(body).get("initializeUploadRequest", {}).get("owner", ""))
    fake.require(grant, owner, "w")
    with fake.lock:
        urn = f"urn:li:image:C4E10AQ{secrets.token_hex(8)}"
        ticket = secrets.token_urlsafe(12)
        fake.images[urn] = {"owner": owner, "status": "WAITING_UPLOAD", "ticket": ticket}
    return (
        200,
        {},
        {
            "value": {
                "uploadUrlExpiresAt": fake.now_ms() + 3_600_000,
                "uploadUrl": f"{fake.url}/dms-uploads/{ticket}/uploaded-image/0",
                "image": urn,
            }
        },
    )


def upload(
    fake: FakeLinkedIn, query: str, headers: dict[str, str], body: bytes, ticket: str
) -> tuple:
    fake.grant(headers)
    with fake.lock:
        for image in fake.images.values():
            if image["ticket"] == ticket:
                image.update(status="AVAILABLE", data=body)
                return 201, {}, None
    raise Answer(404, message="Upload URL not found or expired")


# --- comments ---------------------------------------------------------------------------------


def _post_of(fake: FakeLinkedIn, urn: str) -> dict[str, Any]:
    post = fake.posts.get(urn)
    if post is None:
        raise Answer(404, message=f"Not Found: {urn}")
    return post


def create_comment(
    fake: FakeLinkedIn, query: str, headers: dict[str, str], body: bytes, urn: str
) -> tuple:
    grant = fake.grant(headers)
    comment = _json(body)
    actor = str(comment.get("actor", ""))
    fake.require(grant, actor, "w")
    # A nested comment (an answer to one) is created on its parent comment's path, with
    # its post as /object and the parent as /parentComment; it is kept with the post's.
    nested = comment.get("parentComment") == urn
    if (comment.get("object") != urn and not nested) or not (comment.get("message") or {}).get(
        "text"
    ):
        raise Answer(400, message="/object must be the post in the path; /message/text required")
    for item in comment.get("content") or []:
        _image_ok(fake, item.get("entity", {}).get("image", ""), actor)
    with fake.lock:
        if nested:
            urn = str(comment.get("object", ""))
            if not any(c["$URN"] == comment["parentComment"] for c in fake.comments.get(urn, [])):
                raise Answer(404, message=f"Not Found: {comment['parentComment']}")
        _post_of(fake, urn)
        number = fake.new_urn("x").rsplit(":", 1)[1]
        now = fake.now_ms()
        stored = {
            **comment,
            "id": number,
            "$URN": f"urn:li:comment:({urn},{number})",
            "commentUrn": f"urn:li:comment:({urn},{number})",
            "created": {"actor": actor, "time": now},
            "lastModified": {"actor": actor, "time": now},
        }
        fake.comments.setdefault(urn, []).append(stored)
    return 201, {"x-restli-id": number}, stored


def add_comment(
    fake: FakeLinkedIn,
    post: str,
    *,
    actor: str,
    text: str,
    at_ms: int | None = None,
    parent: str | None = None,
) -> dict[str, Any]:
    """Someone else comments on ``post`` (a test's doing, not the API's)."""
    with fake.lock:
        number = fake.new_urn("x").rsplit(":", 1)[1]
        when = at_ms or fake.now_ms()
        stored = {
            "actor": actor,
            "object": post,
            "message": {"text": text},
            "id": number,
            "$URN": f"urn:li:comment:({post},{number})",
            "commentUrn": f"urn:li:comment:({post},{number})",
            "created": {"actor": actor, "time": when},
            "lastModified": {"actor": actor, "time": when},
        }
        if parent:
            stored["parentComment"] = parent
        fake.comments.setdefault(post, []).append(stored)
        return stored


def list_comments(
    fake: FakeLinkedIn, query: str, headers: dict[str, str], body: bytes, urn: str
) -> tuple:
    grant = fake.grant(headers)
    with fake.lock:
        fake.require(grant, _post_of(fake, urn)["author"], "r")
        start = int(str(query_value(query, "start") or 0))
        count = min(int(str(query_value(query, "count") or 10)), 100)
        items = list(fake.comments.get(urn, []))
    return (
        200,
        {},
        {
            "elements": items[start : start + count],
            "paging": {"start": start, "count": count, "total": len(items)},
        },
    )


# --- engagement -------------------------------------------------------------------------------


def social_metadata(fake: FakeLinkedIn, query: str, headers: dict[str, str], body: bytes) -> tuple:
    grant = fake.grant(headers)
    ids = query_value(query, "ids")
    if not isinstance(ids, list):
        raise Answer(400, message="BATCH_GET needs ids=List(...)")
    results, errors = {}, {}
    with fake.lock:
        for urn in ids:
            post = fake.posts.get(urn)
            if post is None:
                errors[urn] = {"status": 404, "message": "Not Found"}
                continue
            fake.require(grant, post["author"], "r")
            comments = fake.comments.get(urn, [])
            results[urn] = {
                "entity": urn,
                "commentsState": "OPEN",
                "reactionSummaries": {
                    kind: {"reactionType": kind, "count": n}
                    for kind, n in fake.reactions.get(urn, {}).items()
                },
                "commentSummary": {
                    "count": len(comments),
                    "topLevelCount": sum(1 for c in comments if "parentComment" not in c),
                },
            }
    return 200, {}, {"results": results, "statuses": {u: 200 for u in results}, "errors": errors}


def share_statistics(fake: FakeLinkedIn, query: str, headers: dict[str, str], body: bytes) -> tuple:
    grant = fake.grant(headers)
    page = str(query_value(query, "organizationalEntity") or "")
    if query_value(query, "q") != "organizationalEntity" or page not in fake.pages:
        raise Answer(400, message="q=organizationalEntity with an organization URN is required")
    fake.require(grant, page, "r")
    elements = []
    for key in ("shares", "ugcPosts"):
        for urn in query_value(query, key) or []:
            if urn in fake.posts and fake.posts[urn]["author"] == page:
                stats = {
                    "uniqueImpressionsCount": 0,
                    "shareCount": 0,
                    "engagement": 0.0,
                    "clickCount": 0,
                    "likeCount": 0,
                    "impressionCount": 0,
                    "commentCount": 0,
                    **fake.share_stats.get(urn, {}),
                }
                elements.append(
                    {"organizationalEntity": page, key[:-1]: urn, "totalShareStatistics": stats}
                )
    return 200, {}, {"elements": elements, "paging": {"start": 0, "count": 10, "links": []}}


# --- OAuth 2.0 --------------------------------------------------------------------------------


def authorize(fake: FakeLinkedIn, query: str, headers: dict[str, str], body: bytes) -> tuple:
    """The user is signed in and clicks "Allow" (or "Cancel" when ``deny_login``)."""
    params = dict(parse_qsl(query))
    redirect = params.get("redirect_uri", "")
    if params.get("client_id") != CLIENT_ID or not redirect.startswith("http://127.0.0.1:"):
        return 400, {"Content-Type": "text/html"}, b"<h1>The redirect_uri does not match</h1>"
    answer = {"state": params.get("state", "")}
    if fake.deny_login:
        answer.update(
            error="user_cancelled_authorize",
            error_description="The user cancelled the authorization",
        )
    else:
        code = secrets.token_urlsafe(24)
        with fake.lock:
            fake.codes[code] = {"redirect_uri": redirect, "scope": params.get("scope", "")}
        answer["code"] = code
    return 302, {"Location": f"{redirect}?{urlencode(answer)}"}, None


def token(fake: FakeLinkedIn, query: str, headers: dict[str, str], body: bytes) -> tuple:
    form = dict(parse_qsl(body.decode()))
    if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
        raise Answer(
            401, {"error": "invalid_client", "error_description": "Client authentication failed"}
        )
    with fake.lock:
        if form.get("grant_type") == "authorization_code":
            grant = fake.codes.pop(form.get("code", ""), None)
            if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
                raise Answer(
                    400,
                    {
                        "error": "invalid_request",
                        "error_description": "Unable to retrieve access token: appid/redirect uri/code"
                        " verifier does not match authorization code. Or"
                        " authorization code expired.",
                    },
                )
            return (
                200,
                {},
                fake.issue_token(scopes=grant["scope"], refresh=fake.refresh_tokens_enabled),
            )
        if form.get("grant_type") == "refresh_token":
            held: Token | None = fake.refresh.get(form.get("refresh_token", ""))
            if held is None or held.expires_at < time.time():
                raise Answer(
                    400,
                    {
                        "error": "invalid_request",
                        "error_description": "The provided refresh token is invalid",
                    },
                )
            answer = fake.issue_token(scopes=" ".join(held.scopes))
            answer.update(
                refresh_token=form["refresh_token"],
                refresh_token_expires_in=int(held.expires_at - time.time()),
            )
            return 200, {}, answer
    raise Answer(400, {"error": "unsupported_grant_type", "error_description": "grant_type"})


def userinfo(fake: FakeLinkedIn, query: str, headers: dict[str, str], body: bytes) -> tuple:
    grant = fake.grant(headers)
    if "openid" not in grant.scopes:
        raise Answer(
            403,
            serviceErrorCode=100,
            code="ACCESS_DENIED",
            message="Not enough permissions to access: userinfo.GET.NO_VERSION",
        )
    return (
        200,
        {},
        {
            "sub": grant.member.rsplit(":", 1)[1],
            "name": "Ada Example",
            "given_name": "Ada",
            "family_name": "Example",
            "locale": {"country": "DE", "language": "de"},
        },
    )


_URN = r"/([^/]+)"
ROUTES: list[tuple[str, str, str, Callable[..., tuple]]] = [
    ("POST", r"/rest/posts", "create", create_post),
    ("GET", r"/rest/posts", "posts.list", list_posts),
    ("POST", r"/rest/images", "images", init_upload),
    ("PUT", r"/dms-uploads/([^/]+)/uploaded-image/0", "upload", upload),
    ("POST", rf"/rest/socialActions{_URN}/comments", "create", create_comment),
    ("GET", rf"/rest/socialActions{_URN}/comments", "comments.list", list_comments),
    ("GET", r"/rest/socialMetadata", "metadata", social_metadata),
    ("GET", r"/rest/organizationalEntityShareStatistics", "stats", share_statistics),
    ("GET", r"/oauth/v2/authorization", "authorize", authorize),
    ("POST", r"/oauth/v2/accessToken", "token", token),
    ("GET", r"/v2/userinfo", "userinfo", userinfo),
]
