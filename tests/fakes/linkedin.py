"""A fake LinkedIn on 127.0.0.1: the versioned REST API, the image upload, OAuth 2.0 authorization.

It answers as LinkedIn does: 201 with ``x-restli-id`` for a new post, Rest.li 2.0 encoding
(URNs escaped in paths and queries, ``List(...)`` batches), error bodies
``{"status", "message", "serviceErrorCode"}``, 401 code 65601 for an expired token, 403 for a
missing permission, 422 for a refused post, 429 without a reset header. ``fail_next`` injects
failures; ``requests`` records every call (for batching and secret-leak checks).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import pathlib
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.fakes.loopback import serving

PERSON = "urn:li:person:abc123"
PAGE = "urn:li:organization:2414183"
CLIENT_ID, CLIENT_SECRET = "fake-client-id", "fake-client-secret-0123456789"
DAY = 86400
EXPIRED = {
    "status": 401,
    "serviceErrorCode": 65601,
    "code": "EXPIRED_ACCESS_TOKEN",
    "message": "The token used in the request has expired",
}
INVALID = {
    "status": 401,
    "serviceErrorCode": 65600,
    "code": "INVALID_ACCESS_TOKEN",
    "message": "Invalid access token",
}
THROTTLED = {
    "status": 429,
    "serviceErrorCode": 101,
    "code": "TOO_MANY_REQUESTS",
    "message": "Resource level throttle APPLICATION DAY limit for calls to this"
    " resource is reached.",
}


class Answer(Exception):
    """Raised by a route to send an error answer."""

    def __init__(self, status: int, body: dict[str, Any] | None = None, **extra: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body or {"status": status, **extra}


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Token:
    scopes: frozenset[str]
    expires_at: float
    member: str = PERSON


@dataclass
class FakeLinkedIn:
    """LinkedIn's state and rules; ``serve()`` makes it answer HTTP on 127.0.0.1."""

    refresh_tokens_enabled: bool = True
    reject_duplicates: bool = True
    deny_login: bool = False
    slow_seconds: float = 5.0  # how long a "timeout_after_accept" answer is held back
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)
    comments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    images: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    refresh: dict[str, Token] = field(default_factory=dict)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    reactions: dict[str, dict[str, int]] = field(default_factory=dict)
    share_stats: dict[str, dict[str, int]] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    pages: frozenset[str] = frozenset({PAGE})
    url: str = ""

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self._ids = itertools.count(7_000_000_000_000_000_001)
        self._failures: list[tuple[str, str]] = []
        self.release = threading.Event()

    # --- test controls ----------------------------------------------------------------------

    def issue_token(
        self,
        *,
        scopes: str = "openid profile w_member_social r_member_social",
        lifetime: float = 60 * DAY,
        refresh: bool = False,
    ) -> dict[str, Any]:
        """A fresh token response, as the token endpoint would give it."""
        with self.lock:
            access = "AQV" + secrets.token_urlsafe(30)
            grant = Token(frozenset(scopes.replace(",", " ").split()), time.time() + lifetime)
            self.tokens[access] = grant
            answer: dict[str, Any] = {
                "access_token": access,
                "expires_in": int(lifetime),
                "scope": ",".join(sorted(grant.scopes)),
                "token_type": "Bearer",
            }
            if refresh:
                token = "AQX" + secrets.token_urlsafe(30)
                self.refresh[token] = Token(grant.scopes, time.time() + 365 * DAY)
                answer.update(refresh_token=token, refresh_token_expires_in=365 * DAY)
            return answer

    def expire(self, access_token: str) -> None:
        """LinkedIn ends the token's life early (the client still believes it valid)."""
        with self.lock:
            self.tokens[access_token].expires_at = time.time() - 1

    def fail_next(self, kind: str, *, route: str = "create") -> None:
        """The next call to ``route`` fails with ``kind``.

        Routes: "create" (new posts and comments), "token", "upload", "images", "posts.list",
        "comments.list", "metadata", "stats", "any". Kinds: server_error, bad_gateway,
        rate_limit, timeout_after_accept, drop, auth, forbidden, invalid.
        """
        with self.lock:
            self._failures.append((route, kind))

    def posts_and_comments(self) -> list[dict[str, Any]]:
        """What LinkedIn holds, in creation order: ``{"id", "text", "reply_to"}`` each."""
        with self.lock:
            # A post's commentary is little text; a comment's message is plain text.
            items = [
                (p["createdAt"], p["id"], shown(p["commentary"]), None) for p in self.posts.values()
            ]
            for post, comments in self.comments.items():
                items += [
                    (
                        c["created"]["time"],
                        c["$URN"],
                        c["message"]["text"],
                        c.get("parentComment") or post,
                    )
                    for c in comments
                ]
        return [{"id": i, "text": t, "reply_to": r} for _, i, t, r in sorted(items)]

    def calls(self, path_prefix: str, method: str = "GET") -> list[Seen]:
        return [s for s in self.requests if s.method == method and s.path.startswith(path_prefix)]

    # --- the server -------------------------------------------------------------------------

    @contextlib.contextmanager
    def serve(self) -> Iterator[FakeLinkedIn]:
        with serving(_handler(self), on_stop=self.release.set) as self.url:
            yield self

    def take_failure(self, route: str) -> str | None:
        with self.lock:
            for index, (wanted, kind) in enumerate(self._failures):
                if wanted in (route, "any"):
                    del self._failures[index]
                    return kind
        return None

    # --- helpers for routes -----------------------------------------------------------------

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def new_urn(self, kind: str) -> str:
        return f"urn:li:{kind}:{next(self._ids)}"

    def grant(self, headers: dict[str, str]) -> Token:
        match = re.fullmatch(r"Bearer (\S+)", headers.get("authorization", ""))
        grant = self.tokens.get(match[1]) if match else None
        if grant is None:
            raise Answer(401, INVALID)
        if grant.expires_at < time.time():
            raise Answer(401, EXPIRED)
        return grant

    def require(self, grant: Token, author: str, access: str) -> None:
        """The token must carry w_/r_ member or organization social for ``author``."""
        scope = f"{access}_{'organization' if 'organization' in author else 'member'}_social"
        owned = author == grant.member or author in self.pages
        if scope not in grant.scopes or not owned:
            raise Answer(
                403,
                serviceErrorCode=100,
                code="ACCESS_DENIED",
                message=f"Not enough permissions to access: {scope} for {author}",
            )


def shown(little: str) -> str:
    """What a reader sees of little-format text: hashtag templates resolved, escapes dropped."""
    little = re.sub(r"\{hashtag\|\\?([#\uff03])\|([^}]*)\}", r"\1\2", little)
    return re.sub(r"\\(.)", r"\1", little, flags=re.DOTALL)


def query_value(raw: str, name: str) -> str | list[str] | None:
    """One Rest.li 2.0 query parameter, decoded; unescaped reserved characters are refused."""
    for part in raw.split("&"):
        key, _, value = part.partition("=")
        if key != name:
            continue
        if value.startswith("List(") and value.endswith(")"):
            inner = value[5:-1]
            items = inner.split(",") if inner else []
            for item in items:
                _check_escaped(item)
            return [unquote(item) for item in items]
        _check_escaped(value)
        return unquote(value)
    return None


def _check_escaped(value: str) -> None:
    if re.search(r"[:(),]", value):
        raise Answer(
            400,
            serviceErrorCode=0,
            code="ILLEGAL_ARGUMENT",
            message=f"Invalid query parameter value {value!r}: reserved characters must be encoded",
        )


def _handler(fake: FakeLinkedIn) -> type[BaseHTTPRequestHandler]:
    from tests.fakes.linkedin_routes import route  # the routes table lives beside this module

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes: without this, Nagle's algorithm and the
            # client's delayed ACK add 40 ms to every answer with a body.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            with fake.lock:
                fake.requests.append(Seen(method, url.path, url.query, headers, body))
            status, out_headers, payload, after = route(
                fake, method, url.path, url.query, headers, body
            )
            if after == "drop":
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(2)
                return
            if after == "slow":
                fake.release.wait(fake.slow_seconds)
            data = (
                b""
                if payload is None
                else (payload if isinstance(payload, bytes) else json.dumps(payload).encode())
            )
            self.send_response(status)
            for key, value in out_headers.items():
                self.send_header(key, value)
            if payload is not None and "Content-Type" not in out_headers:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


# --- the contract suite's entry point ---------------------------------------------------------


@dataclass
class Case:
    """One LinkedIn account connected to a running fake (see tests/adapters/test_contract.py)."""

    fake: FakeLinkedIn
    adapter: Any
    lacks: dict[str, str] = field(default_factory=dict)

    def posts(self) -> list[dict[str, Any]]:
        return self.fake.posts_and_comments()

    def reply(self, *, to: str, text: str) -> None:
        from tests.fakes.linkedin_routes import add_comment

        add_comment(self.fake, to, actor="urn:li:person:someone-else", text=text)

    def fail_next(self, kind: str) -> None:
        self.fake.fail_next(kind, route="create")


@contextlib.contextmanager
def insecure_transport_allowed() -> Iterator[None]:
    """requests-oauthlib refuses plain http unless told; the fake speaks http on loopback."""
    before = os.environ.get("OAUTHLIB_INSECURE_TRANSPORT")
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("OAUTHLIB_INSECURE_TRANSPORT", None)
        else:
            os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = before


def make_adapter(
    fake: FakeLinkedIn,
    tmp_path: pathlib.Path,
    *,
    author: str = PERSON,
    token: dict[str, Any] | None = None,
    timeout: float = 1.5,
    saved: list[dict[str, str]] | None = None,
    **secret_overrides: str,
) -> Any:
    """A LinkedInAdapter for ``author`` with a token the fake issued (or ``token``)."""
    from klapper.adapters import create_adapter
    from klapper.adapters.oauth2 import token_secrets

    token = token or fake.issue_token()
    stored = {
        **token_secrets(token),
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        **secret_overrides,
    }
    return create_adapter(
        name="linkedin",
        platform="linkedin",
        repo=tmp_path,
        timeout=timeout,
        settings={"author": author, "api_base": fake.url, "oauth_base": fake.url},
        secrets=stored,
        save_secrets=saved.append if saved is not None else None,
    )


@contextlib.contextmanager
def adapter_case(tmp_path: pathlib.Path) -> Iterator[Case]:
    """A person account without refresh tokens (what most LinkedIn apps get)."""
    fake = FakeLinkedIn(reject_duplicates=False)
    with insecure_transport_allowed(), fake.serve():
        adapter = make_adapter(fake, tmp_path)
        try:
            yield Case(fake=fake, adapter=adapter)
        finally:
            adapter.close()
