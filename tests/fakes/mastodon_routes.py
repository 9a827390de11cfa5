"""The routes of the fake Mastodon server: what each endpoint answers, as Mastodon does."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:
    from tests.fakes.mastodon import FakeState


class Answer(Exception):
    """A response decided early (an error, a redirect): status, body, extra headers."""

    def __init__(self, status: int, body: Any, *, headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or {}


def _validation(state: FakeState, message: str) -> Answer:
    # Mastodon says 422 "Validation failed: ..."; GoToSocial and Takahē say 400.
    if state.flavor == "mastodon":
        return Answer(422, {"error": f"Validation failed: {message}"})
    return Answer(400, {"error": f"Bad Request: {message}"})


def route(
    state: FakeState,
    method: str,
    path: str,
    query: dict[str, list[str]],
    form: dict[str, list[str]],
    files: dict[str, bytes],
    auth: str,
    idem: str | None,
) -> tuple[int, Any]:
    """The status and JSON body (or HTML bytes) Mastodon answers to one request."""
    one = {k: v[0] for k, v in form.items() if v}
    with state.lock:
        if (state.strict_slashes and path.endswith("/")) or (
            path.startswith("/.well-known/") and not state.oauth_metadata
        ):
            raise Answer(404, b"<h1>Not Found</h1>")
        if state.html_token_refusal and auth and auth != f"Bearer {state.token}":
            raise Answer(400, b"Invalid Bearer token")  # Takahe checks any token on any route
        if method == "GET" and path in ("/api/v1/instance", "/api/v2/instance"):
            return 200, _instance(state, v2=path.endswith("v2/instance"))
        if method == "GET" and path == "/.well-known/oauth-authorization-server":
            return 200, {
                "issuer": state.base,
                "authorization_endpoint": f"{state.base}/oauth/authorize",
                "token_endpoint": f"{state.base}/oauth/token",
                "grant_types_supported": ["authorization_code", "client_credentials"],
                "scopes_supported": ["read", "write", "follow", "push"],
            }
        if path.startswith("/oauth/") or path == "/api/v1/apps":
            return _oauth(state, method, path, query, one, form)
        if auth != f"Bearer {state.token}":
            raise Answer(401, {"error": "The access token is invalid"})
        if method == "GET" and path == "/api/v1/accounts/verify_credentials":
            return 200, {**state.account(), "source": {"privacy": "public", "note": ""}}
        if method == "GET" and (m := re.fullmatch(r"/api/v1/accounts/(\w+)/statuses", path)):
            own = [s for s in state.statuses.values() if s["account"]["id"] == m[1]]
            return 200, _page(own, query)
        if method == "POST" and path in ("/api/v1/media", "/api/v2/media"):
            return _upload(state, path, one, files)
        if method == "GET" and (m := re.fullmatch(r"/api/v1/media/(\w+)", path)):
            item = state.media.get(m[1]) or _raise(404, "Record not found")
            if item["polls_left"] > 0:
                item["polls_left"] -= 1
                return 206, _public_media(item)
            item["url"] = f"{state.base}/media/{item['id']}.png"
            return 200, _public_media(item)
        if method == "POST" and path == "/api/v1/statuses":
            return _post_status(state, form, one, idem)
        if method == "GET" and path == "/api/v1/statuses":
            if not state.batch_lookup:
                raise Answer(405, b"")  # the route exists for POST only
            if _version(state.version) < (4, 3):
                raise Answer(404, {"error": "Record not found"})  # no batch lookup before 4.3
            ids = query.get("id[]", [])
            return 200, [state.statuses[i] for i in ids if i in state.statuses]
        if method == "GET" and (m := re.fullmatch(r"/api/v1/statuses/(\w+)", path)):
            return 200, state.statuses.get(m[1]) or _raise(404, "Record not found")
        if method == "GET" and path == "/api/v1/notifications":
            types = set(query.get("types[]", []))
            items = [n for n in state.notifications if not types or n["type"] in types]
            return 200, _page(items, query)
    raise Answer(404, {"error": "Record not found"})


def _raise(status: int, message: str) -> Any:
    raise Answer(status, {"error": message})


def _version(text: str | None) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", (text or "").split("+")[0])[:2])


def _page(items: list[dict[str, Any]], query: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Newest first, ``max_id``/``since_id`` exclusive, ``limit`` (default 20, at most 40)."""
    ordered = sorted(items, key=lambda i: int(i["id"]), reverse=True)
    if "max_id" in query:
        ordered = [i for i in ordered if int(i["id"]) < int(query["max_id"][0])]
    if "since_id" in query:
        ordered = [i for i in ordered if int(i["id"]) > int(query["since_id"][0])]
    return ordered[: min(int(query.get("limit", ["20"])[0]), 40)]


def _instance(state: FakeState, *, v2: bool) -> dict[str, Any]:
    config = {
        "statuses": {
            "max_characters": state.max_characters,
            "max_media_attachments": state.max_media,
            "characters_reserved_per_url": 23,
        },
        "media_attachments": {
            "supported_mime_types": [
                "image/jpeg",
                "image/png",
                "image/gif",
                "image/webp",
                "video/mp4",
            ],
            "image_size_limit": 16 * 1024 * 1024,
            "description_limit": state.description_limit,
        },
    }
    if v2:
        return {
            "domain": "127.0.0.1",
            "title": "Fake",
            "version": state.version,
            "api_versions": {"mastodon": 2},
            "configuration": config,
        }
    return {"uri": "127.0.0.1", "title": "Fake", "version": state.version, "configuration": config}


def _oauth(
    state: FakeState,
    method: str,
    path: str,
    query: dict[str, list[str]],
    one: dict[str, str],
    form: dict[str, list[str]],
) -> tuple[int, Any]:
    if method == "POST" and path == "/api/v1/apps":
        client_id = f"client-{state.next_id()}"
        app = {
            "id": state.next_id(),
            "name": one.get("client_name", ""),
            "client_id": client_id,
            "client_secret": f"secret-{state.next_id()}",
            "redirect_uris": (one.get("redirect_uris") or "").split("\n"),
            "scopes": one.get("scopes", "read").split(),
        }
        state.apps[client_id] = app
        return 200, {**app, "redirect_uri": one.get("redirect_uris"), "vapid_key": "x"}
    args = {k: v[0] for k, v in query.items()}
    if method == "GET" and path == "/oauth/authorize":
        app = state.apps.get(args.get("client_id", ""))
        if not app or args.get("redirect_uri") not in app["redirect_uris"]:
            raise Answer(400, {"error": "invalid_client"})
        code = f"code-{state.next_id()}"
        state.codes[code] = {"client_id": app["client_id"], "redirect_uri": args["redirect_uri"]}
        if args["redirect_uri"] == "urn:ietf:wg:oauth:2.0:oob":
            return (
                200,
                f'<h1>Authorization code</h1><input class="oauth-code" value="{code}">'.encode(),
            )
        target = (
            args["redirect_uri"] + "?" + urlencode({"code": code, "state": args.get("state", "")})
        )
        raise Answer(302, b"", headers={"Location": target})
    if method == "POST" and path == "/oauth/token":
        grant = state.codes.pop(one.get("code", ""), None)
        app = state.apps.get(one.get("client_id", ""))
        if (
            not grant
            or not app
            or app["client_secret"] != one.get("client_secret")
            or grant["redirect_uri"] != one.get("redirect_uri")
        ):
            raise Answer(
                400,
                {
                    "error": "invalid_grant",
                    "error_description": "The provided authorization grant is invalid, expired or revoked",
                },
            )
        return 200, {
            "access_token": state.token,
            "token_type": "Bearer",
            "scope": " ".join(app["scopes"]),
            "created_at": 1_700_000_000,
        }
    raise Answer(404, {"error": "Record not found"})


def _public_media(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in ("polls_left", "size")}


def _upload(
    state: FakeState, path: str, one: dict[str, str], files: dict[str, bytes]
) -> tuple[int, Any]:
    data = files.get("file")
    if not data:
        raise _validation(state, "File can't be blank")
    description = one.get("description")
    if description and len(description) > state.description_limit:
        raise _validation(state, f"Description is too long (maximum is {state.description_limit})")
    media_id = state.next_id()
    asynchronous = path == "/api/v2/media" and state.media_polls > 0
    item = {
        "id": media_id,
        "type": "image",
        "description": description,
        "size": len(data),
        "url": None if asynchronous else f"{state.base}/media/{media_id}.png",
        "preview_url": f"{state.base}/media/{media_id}-small.png",
        "polls_left": state.media_polls if asynchronous else 0,
        "meta": {},
        "blurhash": None,
    }
    state.media[media_id] = item
    return (202 if asynchronous else 200), _public_media(item)


def _post_status(
    state: FakeState, form: dict[str, list[str]], one: dict[str, str], idem: str | None
) -> tuple[int, Any]:
    now = state.clock()
    if idem and state.honours_idempotency:
        seen = state.idempotency.get(idem)
        if seen and now - seen[1] < timedelta(hours=1) and seen[0] in state.statuses:
            return 200, state.statuses[seen[0]]
    text = one.get("status", "")
    media_ids = form.get("media_ids[]") or form.get("media_ids") or []
    if not text.strip() and not media_ids:
        raise _validation(state, "Text can't be blank")
    if len(text) + len(one.get("spoiler_text", "")) > state.max_characters:  # the CW counts too
        raise _validation(state, f"Text character limit of {state.max_characters} exceeded")
    if len(media_ids) > state.max_media:
        raise _validation(state, f"Media attachments may not exceed {state.max_media}")
    media = []
    for media_id in media_ids:
        item = state.media.get(media_id) or _raise(422, "Validation failed: media not found")
        if item["url"] is None:
            raise _validation(
                state,
                "Cannot attach files that have not finished processing. Try again in a moment!",
            )
        media.append(_public_media(item))
    reply_to = one.get("in_reply_to_id") or None
    if reply_to and reply_to not in state.statuses:
        raise Answer(404, {"error": "Record not found"})
    status = state.add_status(
        text=text,
        in_reply_to_id=reply_to,
        visibility=one.get("visibility", "public"),
        spoiler_text=one.get("spoiler_text", ""),
        language=one.get("language"),
        media=media,
        created_at=now,
    )
    if idem:
        state.idempotency[idem] = (status["id"], now)
    return 200, status
