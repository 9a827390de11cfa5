"""A fake Mastodon server on 127.0.0.1 that answers the routes klapper uses as Mastodon does.

Shapes, status codes, rate-limit headers (``X-RateLimit-Reset`` in ISO 8601), ``{"error": ...}``
bodies, asynchronous media (v2: 202, then 206 until processed), the Idempotency-Key (kept an
hour), and injected failures. ``flavor`` picks how other servers speaking the API differ
(``FLAVORS``; each difference is also a field of its own); ``adapter_case`` wires a klapper
adapter to it for the shared contract suite, once per ``CONTRACT_MODES`` entry.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import html
import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from klapper import testing as faults
from tests.fakes.mastodon_routes import Answer, route

TOKEN = "fake-mastodon-token-0123456789"
FAIL_KINDS = (
    "server_error",
    "rate_limit",
    "timeout_after_accept",
    "drop",
    "auth",
    *faults.HTTP_FAULTS,
)
#: how the servers differ, as seen against real ones (fields left None take their flavor's)
FLAVORS: dict[str, dict[str, Any]] = {
    "mastodon": {"version": "4.3.2"},
    # GoToSocial ignores Idempotency-Key and answers validation errors with 400.
    "gotosocial": {"version": "4.3.2", "honours_idempotency": False},
    # Takahē 0.11: routes without a trailing slash only (``/api/v1/instance/`` is 404), no
    # batch lookup (GET /api/v1/statuses is 405: the route takes POST only), a bad token is
    # ``400 text/html "Invalid Bearer token"`` on any route, no Idempotency-Key, no OAuth
    # server metadata, and its own version string.
    "takahe": {
        "version": "takahe/0.11.0",
        "honours_idempotency": False,
        "strict_slashes": True,
        "batch_lookup": False,
        "html_token_refusal": True,
        "oauth_metadata": False,
    },
}
#: the contract suite runs once per mode: its name -> FakeState fields
CONTRACT_MODES: dict[str, dict[str, Any]] = {
    "mastodon": {},
    "mastodon-gotosocial": {"flavor": "gotosocial"},
    "mastodon-takahe": {"flavor": "takahe", "max_characters": 300},
}
_URL = re.compile(r"https?://[^\s<]+")


def _iso(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def render_html(text: str) -> str:
    """Render plain text as Mastodon does: paragraphs, <br>, links split into invisible spans."""

    def link(match: re.Match[str]) -> str:
        url = match.group(0)
        scheme, rest = url.split("://", 1)
        return (
            f'<a href="{url}" rel="nofollow noopener" target="_blank">'
            f'<span class="invisible">{scheme}://</span><span class="">{rest}</span>'
            '<span class="invisible"></span></a>'
        )

    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p]
    return "".join(
        "<p>"
        + "<br />".join(_URL.sub(link, html.escape(line, quote=False)) for line in p.split("\n"))
        + "</p>"
        for p in paragraphs
    )


@dataclass
class Failure:
    kind: str
    method: str
    path: str


@dataclass
class FakeState:
    """Everything the fake server holds; tests read and change it directly (under ``lock``)."""

    flavor: str = "mastodon"
    version: str | None = None  # what /api/v*/instance says, e.g. "4.3.2" or "takahe/0.11.0"
    honours_idempotency: bool | None = None  # answers a repeated Idempotency-Key with the first
    strict_slashes: bool | None = None  # a trailing slash makes any route 404
    batch_lookup: bool | None = None  # False: GET /api/v1/statuses?id[]= answers 405
    html_token_refusal: bool | None = None  # a bad token: 400 text/html "Invalid Bearer token"
    oauth_metadata: bool | None = None  # /.well-known/oauth-authorization-server exists
    max_characters: int = 500
    max_media: int = 4
    description_limit: int = 1500
    media_polls: int = 1  # GETs of /api/v1/media/:id that answer 206 before it is ready
    slow_seconds: float = 2.0  # how long "timeout_after_accept" keeps the client waiting
    post_delay: float = 0.0  # seconds a stored status waits for its answer (widens crash windows)
    token: str = TOKEN
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # status id -> the text as written
    media: dict[str, dict[str, Any]] = field(default_factory=dict)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotency: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, list[str]]]] = field(default_factory=list)
    remaining: int = 300
    lock: threading.RLock = field(default_factory=threading.RLock)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(113_000_000_000_000_001))

    def __post_init__(self) -> None:
        preset = {
            "honours_idempotency": True,
            "strict_slashes": False,
            "batch_lookup": True,
            "html_token_refusal": False,
            "oauth_metadata": True,
            **FLAVORS[self.flavor],
        }
        for name, value in preset.items():
            if getattr(self, name) is None:
                setattr(self, name, value)

    def next_id(self) -> str:
        return str(next(self.ids))

    def account(self, username: str = "shop") -> dict[str, Any]:
        return {
            "id": "1" if username == "shop" else str(abs(hash(username)) % 10**9 + 2),
            "username": username,
            "acct": username,
            "display_name": username.title(),
            "url": f"{self.base}/@{username}",
            "created_at": "2024-01-01T00:00:00.000Z",
            "locked": False,
            "bot": False,
            "note": "",
            "avatar": "",
            "header": "",
            "followers_count": 10,
            "following_count": 5,
            "statuses_count": len(self.statuses),
            "fields": [],
            "emojis": [],
        }

    base: str = ""

    def add_status(
        self,
        *,
        text: str,
        by: str = "shop",
        in_reply_to_id: str | None = None,
        visibility: str = "public",
        spoiler_text: str = "",
        language: str | None = None,
        media: list[dict[str, Any]] | None = None,
        created_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Store a status (as its author would have posted it) and return it."""
        status_id = self.next_id()
        parent = self.statuses.get(in_reply_to_id or "")
        status = {
            "id": status_id,
            "uri": f"{self.base}/users/{by}/statuses/{status_id}",
            "url": f"{self.base}/@{by}/{status_id}",
            "created_at": _iso(created_at or self.clock()),
            "account": self.account(by),
            "content": render_html(text),
            "text": None,
            "in_reply_to_id": in_reply_to_id,
            "in_reply_to_account_id": parent["account"]["id"] if parent else None,
            "visibility": visibility,
            "sensitive": bool(spoiler_text),
            "spoiler_text": spoiler_text,
            "language": language,
            "media_attachments": media or [],
            "mentions": [],
            "tags": [],
            "emojis": [],
            "card": None,
            "poll": None,
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "quotes_count": 0,
            "edited_at": None,
            "application": {"name": "klapper", "website": None},
        }
        self.statuses[status_id] = status
        self.sources[status_id] = text
        if parent:
            parent["replies_count"] += 1
        return status

    def add_reply(self, *, to: str, text: str, by: str = "alice") -> dict[str, Any]:
        """Someone answers one of the account's statuses (a mention notification follows)."""
        status = self.add_status(text=f"@shop {text}", by=by, in_reply_to_id=to)
        self._notify(status, by)
        return status

    def add_mention(self, *, text: str, by: str = "bob") -> dict[str, Any]:
        status = self.add_status(text=f"@shop {text}", by=by)
        self._notify(status, by)
        return status

    def _notify(self, status: dict[str, Any], by: str) -> None:
        self.notifications.append(
            {
                "id": self.next_id(),
                "type": "mention",
                "created_at": status["created_at"],
                "account": self.account(by),
                "status": status,
            }
        )

    def posts(self) -> list[dict[str, Any]]:
        """The account's own statuses, oldest first, as the contract suite sees them."""
        with self.lock:
            return [
                {"id": s["id"], "text": self.sources[s["id"]], "reply_to": s["in_reply_to_id"]}
                for s in self.statuses.values()
                if s["account"]["username"] == "shop"
            ]

    def fail_next(self, kind: str, *, method: str = "POST", path: str = "/api/v1/statuses") -> None:
        """The next request to ``method path`` fails as ``kind`` (one of FAIL_KINDS)."""
        if kind not in FAIL_KINDS:
            raise ValueError(f"unknown failure {kind!r}; known: {', '.join(FAIL_KINDS)}")
        with self.lock:
            self.failures.append(Failure(kind, method, path))

    def count(self, method: str, path: str) -> int:
        with self.lock:
            return sum(1 for m, p, _ in self.requests if m == method and p == path)


class FakeMastodon:
    """The server: ``with FakeMastodon() as fake: fake.url, fake.state``."""

    def __init__(self, **state: Any) -> None:
        self.state = FakeState(**state)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state))
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.state.base = self.url
        self.stopping = threading.Event()
        self._server.stopping = self.stopping  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True, name="fake-mastodon"
        )

    def __enter__(self) -> FakeMastodon:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _handler(state: FakeState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out as two writes: without this, Nagle's algorithm and the
            # client's delayed ACK add 40 ms to every answer.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: object) -> None:
            return  # quiet: tests read ``state.requests`` instead

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            path = url.path if state.strict_slashes else url.path.rstrip("/") or "/"
            query = parse_qs(url.query, keep_blank_values=True)
            form, files = self._body()
            with state.lock:
                state.requests.append((method, path, query))
                failure = next(
                    (f for f in state.failures if f.method == method and f.path == path), None
                )
                if failure:
                    state.failures.remove(failure)
            if failure and failure.kind == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if failure and failure.kind == "server_error":
                return self._send(503, {"error": "Service Unavailable"})
            if failure and failure.kind == "rate_limit":
                return self._send(429, {"error": "Too many requests"}, reset_in=7)
            if failure and failure.kind in faults.HTTP_FAULTS:
                return self._send_raw(*faults.answer(failure.kind))
            if failure and failure.kind == "auth":
                if state.html_token_refusal:
                    return self._send(400, b"Invalid Bearer token")
                return self._send(401, {"error": "The access token is invalid"})
            headers: dict[str, str] = {}
            try:
                status, body = route(
                    state,
                    method,
                    path,
                    query,
                    form,
                    files,
                    self.headers.get("Authorization", ""),
                    self.headers.get("Idempotency-Key"),
                )
            except Answer as answer:
                status, body, headers = answer.status, answer.body, answer.headers
            if state.post_delay and method == "POST" and path == "/api/v1/statuses":
                time.sleep(state.post_delay)  # stored already: a crash now leaves it unknown
            if failure and failure.kind == "timeout_after_accept":
                # Stored; the answer comes too late for the client (or never, at shutdown).
                self.server.stopping.wait(state.slow_seconds)  # type: ignore[attr-defined]
            self._send(status, body, headers=headers)

        def _body(self) -> tuple[dict[str, list[str]], dict[str, bytes]]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            kind = self.headers.get("Content-Type", "")
            if kind.startswith("application/json"):
                data = json.loads(raw or b"{}")
                return {k: v if isinstance(v, list) else [str(v)] for k, v in data.items()}, {}
            if kind.startswith("multipart/form-data"):
                message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                    f"Content-Type: {kind}\r\n\r\n".encode() + raw
                )
                form: dict[str, list[str]] = {}
                files: dict[str, bytes] = {}
                for part in message.iter_parts():
                    name = part.get_param("name", header="content-disposition")
                    if part.get_filename():
                        files[name] = part.get_payload(decode=True)
                    else:
                        form.setdefault(name, []).append(part.get_content().strip())
                return form, files
            return parse_qs(raw.decode(), keep_blank_values=True), {}

        def _send_raw(self, status: int, headers: dict[str, str], body: bytes) -> None:
            """An answer as a proxy in front of the server gives it (no rate-limit headers)."""
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _send(
            self,
            status: int,
            body: Any,
            *,
            reset_in: float = 300,
            headers: dict[str, str] | None = None,
        ) -> None:
            data = json.dumps(body).encode() if not isinstance(body, bytes) else body
            with state.lock:
                state.remaining = max(state.remaining - 1, 0)
                remaining = state.remaining if status != 429 else 0
            self.send_response(status)
            self.send_header(
                "Content-Type",
                "application/json; charset=utf-8"
                if not isinstance(body, bytes)
                else "text/html; charset=utf-8",
            )
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-RateLimit-Limit", "300")
            self.send_header("X-RateLimit-Remaining", str(remaining))
            self.send_header(
                "X-RateLimit-Reset", _iso(datetime.now(UTC) + timedelta(seconds=reset_in))
            )
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            try:
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up waiting (timeout tests)

    return Handler


# --- the contract suite's entry point -------------------------------------------------------


@dataclass
class Case:
    """One adapter connected to one fake server, as tests/adapters/test_contract.py expects."""

    adapter: Any
    server: FakeMastodon
    lacks: dict[str, str] = field(default_factory=dict)

    def posts(self) -> list[dict[str, Any]]:
        return self.server.state.posts()

    def reply(self, *, to: str, text: str) -> None:
        with self.server.state.lock:
            self.server.state.add_reply(to=to, text=text)

    def fail_next(self, kind: str) -> None:
        self.server.state.fail_next(kind)

    @property
    def text_limit(self) -> int:
        return self.server.state.max_characters


def logged_in(server: FakeMastodon) -> dict[str, str]:
    """The credentials `klapper login` stores for the fake's account: the token and whose it is."""
    from klapper.adapters.identity import checked

    token = {"access_token": server.state.token}
    return {
        **token,
        **checked(
            token, credential="access_token", instance=server.url, account_id="1", acct="shop"
        ),
    }


@contextlib.contextmanager
def adapter_case(tmp_path: Path, **state: Any) -> Iterator[Case]:
    """A MastodonAdapter (timeout 1 s) on a fresh fake server; ``state`` sets FakeState fields."""
    from klapper.adapters.mastodon.adapter import MastodonAdapter

    timeout = 1.0
    state.setdefault("slow_seconds", timeout + 1.0)
    with FakeMastodon(**state) as server:
        adapter = MastodonAdapter(
            name="masto",
            settings={"instance": server.url, "cache_dir": str(tmp_path)},
            secrets=logged_in(server),
            repo=tmp_path,
            timeout=timeout,
        )
        try:
            yield Case(adapter=adapter, server=server)
        finally:
            adapter.close()
