"""A generic fake platform on 127.0.0.1 that can be told to fail, and a test adapter for it.

The server speaks a small JSON API in the manner of the real ones: ``POST /api/posts`` (bearer
token, ``Idempotency-Key`` header, ``reply_to``) answers 200 with ``{id, url, created_at}``;
``GET /api/posts?key=K`` lists the account's posts carrying that key (what ``find`` uses).
It does NOT deduplicate by key, so a blind retry shows up as a duplicate. Faults, queued with
``fail_next``: ``500`` (with Retry-After), ``429`` (with X-RateLimit-Reset, epoch seconds),
``401`` (revoked token), ``422`` (refused content), ``timeout`` (stores the post, then answers
only after the client gave up), ``drop`` (closes the connection without storing) and
``drop_after`` (stores, then closes without an answer).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import requests

from klapper.adapters.base import (
    Adapter,
    AuthExpiredError,
    Outgoing,
    PermanentError,
    Published,
    RateLimitedError,
    TransientError,
)
from klapper.adapters.outbox import RULES

FAULTS = frozenset({"500", "429", "401", "422", "timeout", "drop", "drop_after"})


@dataclass
class FakePost:
    id: str
    account: str
    text: str
    key: str
    reply_to: str | None
    media: list[dict[str, Any]]
    created_at: str


@dataclass
class _Fault:
    kind: str
    account: str | None
    reset_in: float = 60.0


@dataclass
class FakePlatform:
    """The server's state; tests read ``posts`` and queue faults with ``fail_next``."""

    tokens: dict[str, str] = field(default_factory=dict)  # token -> account
    delay: float = 0.0  # seconds before answering a POST (widens crash windows)
    hold: float = 3.0  # how long a ``timeout`` fault keeps the client waiting
    posts: list[FakePost] = field(default_factory=list)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, acct
    _faults: list[_Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(
        self, kind: str, *, times: int = 1, account: str | None = None, reset_in: float = 60.0
    ) -> None:
        """Make the next ``times`` POSTs (of ``account``, or anyone's) fail with ``kind``."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(sorted(FAULTS))}")
        with self._lock:
            self._faults.extend(_Fault(kind, account, reset_in) for _ in range(times))

    def _take_fault(self, account: str) -> _Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.account in (None, account):
                    return self._faults.pop(index)
        return None

    def store(self, *, account: str, body: Mapping[str, Any], key: str) -> FakePost:
        with self._lock:
            post = FakePost(
                id=str(len(self.posts) + 1),
                account=account,
                text=body["text"],
                key=key,
                reply_to=body.get("reply_to"),
                media=body.get("media", []),
                created_at=datetime.now(UTC).isoformat(),
            )
            self.posts.append(post)
            return post

    def by_key(self, key: str) -> list[FakePost]:
        with self._lock:
            return [p for p in self.posts if p.key == key]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _account(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return self.server.platform.tokens.get(auth.removeprefix("Bearer "))

    def do_GET(self) -> None:
        platform = self.server.platform
        account = self._account()
        url = urlparse(self.path)
        platform.requests.append(("GET", url.path, account))
        if account is None:
            return self._json(401, {"error": "The access token is invalid"})
        key = parse_qs(url.query).get("key", [""])[0]
        found = [p.__dict__ for p in platform.by_key(key) if p.account == account]
        return self._json(200, found)

    def do_POST(self) -> None:
        platform = self.server.platform
        account = self._account()
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        platform.requests.append(("POST", self.path, account))
        if account is None:
            return self._json(401, {"error": "The access token is invalid"})
        if platform.delay:
            time.sleep(platform.delay)
        fault = platform._take_fault(account)
        kind = fault.kind if fault else None
        key = self.headers.get("Idempotency-Key", "")
        if kind == "500":
            return self._json(500, {"error": "Internal server error"}, {"Retry-After": "1"})
        if kind == "429":
            reset = int(time.time() + fault.reset_in)  # type: ignore[union-attr]
            return self._json(
                429,
                {"error": "Too many requests"},
                {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
            )
        if kind == "401":
            return self._json(401, {"error": "The access token was revoked"})
        if kind == "422":
            return self._json(422, {"error": "Validation failed: Text is too long"})
        if kind == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return None
        post = platform.store(account=account, body=body, key=key)
        if kind == "drop_after":
            self.close_connection = True
            self.connection.shutdown(2)
            return None
        if kind == "timeout":
            time.sleep(platform.hold)  # the client has given up by now
        return self._json(
            200,
            {
                "id": post.id,
                "url": f"http://fake/{account}/{post.id}",
                "created_at": post.created_at,
            },
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    platform: FakePlatform

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeout faults) breaks the pipe: expected here


class FakeServer:
    """Runs a ``FakePlatform`` on 127.0.0.1 (a free port) in a thread; use as a context manager."""

    def __init__(self, platform: FakePlatform | None = None) -> None:
        self.platform = platform or FakePlatform()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.platform = self.platform
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class GenericAdapter(Adapter):
    """A test-only adapter for the fake platform: settings ``api_base``, secret ``access_token``."""

    platform = "generic"
    rules = RULES
    secret_keys = ("access_token",)

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        token = self.secrets.get("access_token")
        if not token:
            raise AuthExpiredError(f"no access_token for account {self.name}")
        try:
            answer = requests.request(
                method,
                f"{self.settings['api_base']}{path}",
                timeout=self.timeout,
                headers={"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})},
                **kwargs,
            )
        except requests.Timeout as exc:
            raise TransientError(f"no answer within {self.timeout}s") from exc
        except requests.ConnectionError as exc:
            raise TransientError("the connection broke") from exc
        error = answer.json().get("error") if answer.status_code >= 400 else None
        if answer.status_code == 429:
            reset = answer.headers.get("X-RateLimit-Reset")
            until = (
                datetime.fromtimestamp(int(reset), UTC)
                if reset
                else datetime.now(UTC) + timedelta(minutes=1)
            )
            raise RateLimitedError(error, until=until)
        if answer.status_code in (401, 403):
            raise AuthExpiredError(error)
        if answer.status_code >= 500:
            retry = answer.headers.get("Retry-After")
            raise TransientError(error, retry_after=float(retry) if retry else None)
        if answer.status_code >= 400:
            raise PermanentError(error)
        return answer.json()

    def publish(self, post: Outgoing) -> Published:
        body = {
            "text": post.text,
            "reply_to": post.reply_to.parent.remote_id if post.reply_to else None,
            "media": [{"file": m.path.name, "alt": m.alt} for m in post.media],
        }
        data = self._request(
            "POST", "/api/posts", json=body, headers={"Idempotency-Key": post.idempotency_key}
        )
        return Published(
            remote_id=data["id"],
            url=data["url"],
            published_at=datetime.fromisoformat(data["created_at"]),
        )

    def find(self, post: Outgoing) -> Published | None:
        found = self._request("GET", "/api/posts", params={"key": post.idempotency_key})
        if not found:
            return None
        first = found[0]
        return Published(
            remote_id=first["id"],
            url=f"http://fake/{first['account']}/{first['id']}",
            published_at=datetime.fromisoformat(first["created_at"]),
        )


def token_for(account: str) -> str:
    """The token the fake accepts for ``account`` (tests register it in ``tokens``)."""
    return f"token-{account}"


def generic_factory(
    *,
    api_base: str,
    repo: Path,
    timeout: float = 5.0,
    tokens: Callable[[str], str | None] = token_for,
) -> Callable[[str], Adapter]:
    """An adapter factory for the publisher: every account talks to the fake platform."""

    def build(account: str) -> Adapter:
        token = tokens(account)
        return GenericAdapter(
            name=account,
            settings={"api_base": api_base},
            secrets={"access_token": token} if token else {},
            repo=repo,
            timeout=timeout,
        )

    return build
