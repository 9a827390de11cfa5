"""A fake Graph API on 127.0.0.1: what Facebook, Instagram and Threads fakes share.

It answers as Meta's documentation shows: errors as ``{"error": {"message", "type", "code",
"error_subcode", "fbtrace_id"}}`` (HTTP 400 for most, whatever the code), rate limits with the
``X-Business-Use-Case-Usage`` header and its ``estimated_time_to_regain_access`` (minutes),
cursor pagination (``paging.cursors.after`` and ``paging.next``), ``GET /?ids=`` with at most
50 ids, Facebook Login's dialog (a 302 to the redirect URI), the code and long-lived token
exchanges and ``debug_token``. Platform fakes add their routes (``routes()``).
``fail_next(kind, route=)`` injects failures; ``requests`` records every call.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from klapper import testing as faults
from klapper.adapters.meta import GRAPH_VERSION

APP_ID, APP_SECRET = "1234567890123", "fake-meta-app-secret-0123456789"
DAY = 86400
SHORT_LIVED, LONG_LIVED = 2 * 3600, 60 * DAY
FAILURES: dict[str, tuple[int, dict[str, Any]]] = {
    "server_error": (
        500,
        {
            "message": "Service temporarily unavailable",
            "type": "OAuthException",
            "code": 2,
            "is_transient": True,
        },
    ),
    "auth": (
        400,
        {
            "message": "Error validating access token: Session has expired on Tuesday,"
            " 01-Dec-26 04:00:00 PST.",
            "type": "OAuthException",
            "code": 190,
            "error_subcode": 463,
        },
    ),
    "rate_limit": (
        400,
        {"message": "(#32) Page request limit reached", "type": "OAuthException", "code": 32},
    ),
    "app_rate_limit": (
        403,
        {
            "message": "(#4) Application request limit reached",
            "type": "OAuthException",
            "code": 4,
            "is_transient": True,
        },
    ),
    "blocked": (
        400,
        {
            "message": "(#368) The action attempted has been deemed abusive or is"
            " otherwise disallowed",
            "type": "OAuthException",
            "code": 368,
        },
    ),
    "invalid": (
        400,
        {
            "message": "(#100) Invalid parameter",
            "type": "OAuthException",
            "code": 100,
            "error_user_msg": "The link you shared is not valid.",
        },
    ),
}


#: the people tokens are issued to, by id (``FakeGraph.user`` logs in)
PEOPLE = {"10001": "Klara Klapper", "20002": "Max Mitbewerber"}


class GraphAnswerError(Exception):
    """Raised by a route to answer with a Graph API error."""

    def __init__(
        self, code: int, message: str, *, status: int = 400, subcode: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
        if subcode:
            self.error["error_subcode"] = subcode


@dataclass
class Grant:
    """What a token stands for: ``kind`` user/page/app, whose, which scopes, until when."""

    kind: str
    subject: str
    scopes: frozenset[str]
    expires_at: float  # 0: never


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]  # query and form fields together
    files: dict[str, tuple[str, bytes]]
    headers: dict[str, str]
    grant: Grant | None = None


Route = tuple[str, str, str, Callable[..., Any]]


@dataclass
class FakeGraph:
    """Meta's state and rules; ``serve()`` makes it answer HTTP on 127.0.0.1."""

    version: str = GRAPH_VERSION
    slow_seconds: float = 5.0  # how long a "timeout_after_accept" answer is held back
    regain_minutes: int = 30  # what a rate limit's usage header says
    user: str = "10001"  # the person who logs in
    roles: frozenset[str] = frozenset()  # objects (Pages ...) the person may act for
    tokens: dict[str, Grant] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self.release = threading.Event()
        self._failures: list[tuple[str, str]] = []
        self._ids = itertools.count(100_001)
        self._codes: dict[str, tuple[str, frozenset[str]]] = {}

    # --- test controls ----------------------------------------------------------------------

    def issue(
        self, *, kind: str, subject: str, scopes: Sequence[str] = (), lifetime: float = 0
    ) -> str:
        token = "EAA" + secrets.token_urlsafe(30)
        with self.lock:
            self.tokens[token] = Grant(
                kind, subject, frozenset(scopes), time.time() + lifetime if lifetime else 0
            )
        return token

    def expire(self, token: str) -> None:
        with self.lock:
            self.tokens[token].expires_at = time.time() - 1

    def fail_next(self, kind: str, *, route: str = "create") -> None:
        """The next call to ``route`` fails with ``kind`` (FAILURES, "drop",
        "timeout_after_accept"); route "any" matches every route."""
        with self.lock:
            self._failures.append((route, kind))

    def calls(self, name: str) -> list[Request]:
        return [
            seen for seen in self.requests if seen.path == name or re.fullmatch(name, seen.path)
        ]

    def new_id(self) -> str:
        return str(next(self._ids))

    # --- what routes use --------------------------------------------------------------------

    def routes(self) -> list[Route]:
        return [
            ("GET", r"me", "me", _me),
            ("GET", r"dialog/oauth", "dialog", _dialog),
            ("GET", r"oauth/access_token", "token", _access_token),
            ("GET", r"debug_token", "debug", _debug_token),
            ("GET", r"", "ids", _ids),
        ]

    def name_of(self, subject: str) -> str:
        """The name ``GET /me`` shows for a token's person or Page."""
        return PEOPLE.get(subject, f"Page {subject}")

    def read_object(self, object_id: str, fields: list[str], grant: Grant) -> dict[str, Any]:
        """One object for ``GET /?ids=``; platform fakes answer, unknown ids raise."""
        raise GraphAnswerError(
            100, f"(#803) Some of the aliases you requested do not exist: {object_id}"
        )

    def require(self, request: Request, *, kind: str, subject: str, scope: str) -> Grant:
        grant = request.grant
        if grant is None:
            raise GraphAnswerError(190, "Invalid OAuth access token - Cannot parse access token")
        if grant.expires_at and grant.expires_at < time.time():
            raise GraphAnswerError(
                190, "Error validating access token: Session has expired", subcode=463
            )
        if grant.kind != kind or grant.subject != subject or scope not in grant.scopes:
            raise GraphAnswerError(
                200,
                f"(#200) The user hasn't authorized the application to"
                f" perform this action ({scope})",
                status=403,
            )
        return grant

    def take_failure(self, route: str) -> str | None:
        with self.lock:
            for index, (wanted, kind) in enumerate(self._failures):
                if wanted in (route, "any"):
                    del self._failures[index]
                    return kind
        return None

    def usage_header(self) -> dict[str, str]:
        usage = {
            self.user: [
                {
                    "type": "pages",
                    "call_count": 100,
                    "total_cputime": 12,
                    "total_time": 14,
                    "estimated_time_to_regain_access": self.regain_minutes,
                }
            ]
        }
        return {
            "X-Business-Use-Case-Usage": json.dumps(usage),
            "X-App-Usage": json.dumps({"call_count": 100, "total_cputime": 12, "total_time": 14}),
        }

    @contextlib.contextmanager
    def serve(self) -> Iterator[Any]:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        try:
            yield self
        finally:
            self.release.set()
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def page_of(fake: FakeGraph, request: Request, items: list[dict[str, Any]]) -> dict[str, Any]:
    """One page of ``items`` as the Graph API cuts them: ``limit`` and the ``after`` cursor."""
    limit = min(int(request.params.get("limit") or 25), 100)
    after = request.params.get("after")
    start = int(base64.b64decode(after).decode()) if after else 0
    chunk = items[start : start + limit]
    answer: dict[str, Any] = {"data": chunk}
    if chunk:
        cursors = {
            "before": base64.b64encode(str(start).encode()).decode(),
            "after": base64.b64encode(str(start + len(chunk)).encode()).decode(),
        }
        answer["paging"] = {"cursors": cursors}
        if start + len(chunk) < len(items):
            query = {**request.params, "after": cursors["after"], "access_token": "EAA..."}
            address = f"{fake.url}/{fake.version}/{request.path}"
            answer["paging"]["next"] = f"{address}?{urlencode(query)}"
    return answer


def split_fields(fields: str) -> list[str]:
    """Top-level names of a ``fields=`` list (``comments.limit(0){id}`` -> ``comments``...)."""
    names, depth, current = [], 0, ""
    for char in fields:
        if char in "({":
            depth += 1
        elif char in ")}":
            depth -= 1
        if char == "," and depth == 0:
            names.append(current)
            current = ""
        else:
            current += char
    names.append(current)
    return [re.split(r"[.{]", name.strip(), maxsplit=1)[0] for name in names if name.strip()]


def graph_time(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(epoch))


# --- shared routes ----------------------------------------------------------------------------


def _me(fake: FakeGraph, request: Request) -> tuple[int, Any]:
    """Whose the token is: the person for a user token, the Page for a Page token."""
    grant = request.grant
    if grant is None or grant.kind == "app":
        raise GraphAnswerError(
            2500, "An active access token must be used to query information about the current user."
        )
    if grant.expires_at and grant.expires_at < time.time():
        raise GraphAnswerError(
            190, "Error validating access token: Session has expired", subcode=463
        )
    answer = {"id": grant.subject, "name": fake.name_of(grant.subject)}
    wanted = split_fields(request.params.get("fields", "id,name"))
    return 200, {key: value for key, value in answer.items() if key in wanted}


def _dialog(fake: FakeGraph, request: Request) -> tuple[int, Any, dict[str, str]]:
    params = request.params
    if params.get("client_id") != APP_ID or params.get("response_type") != "code":
        raise GraphAnswerError(100, "Invalid App ID")
    code = secrets.token_urlsafe(16)
    with fake.lock:
        fake._codes[code] = (params["redirect_uri"], frozenset(params.get("scope", "").split(",")))
    target = params["redirect_uri"] + "?" + urlencode({"code": code, "state": params["state"]})
    return 302, None, {"Location": target}


def _app(params: dict[str, str]) -> None:
    if params.get("client_id") != APP_ID or params.get("client_secret") != APP_SECRET:
        raise GraphAnswerError(1, "Error validating client secret.", subcode=0)


def _access_token(fake: FakeGraph, request: Request) -> tuple[int, Any]:
    params = request.params
    _app(params)
    if params.get("grant_type") == "fb_exchange_token":
        grant = fake.tokens.get(params.get("fb_exchange_token", ""))
        if grant is None or grant.kind != "user":
            raise GraphAnswerError(190, "Invalid OAuth access token.")
        token = fake.issue(
            kind="user", subject=grant.subject, scopes=sorted(grant.scopes), lifetime=LONG_LIVED
        )
        return 200, {"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED}
    with fake.lock:
        redirect_uri, scopes = fake._codes.pop(params.get("code", ""), ("", frozenset()))
    if not redirect_uri:
        raise GraphAnswerError(100, "Invalid verification code format.")
    if redirect_uri != params.get("redirect_uri"):
        raise GraphAnswerError(
            100,
            "Error validating verification code. Please make sure your"
            " redirect_uri is identical to the one you used in the OAuth"
            " dialog request",
        )
    token = fake.issue(kind="user", subject=fake.user, scopes=sorted(scopes), lifetime=SHORT_LIVED)
    return 200, {"access_token": token, "token_type": "bearer", "expires_in": SHORT_LIVED}


def _debug_token(fake: FakeGraph, request: Request) -> tuple[int, Any]:
    if request.headers.get("authorization") != f"Bearer {APP_ID}|{APP_SECRET}":
        raise GraphAnswerError(190, "Invalid OAuth access token - Cannot parse access token")
    grant = fake.tokens.get(request.params.get("input_token", ""))
    if grant is None:
        return 200, {"data": {"is_valid": False, "app_id": APP_ID}}
    return 200, {
        "data": {
            "app_id": APP_ID,
            "type": grant.kind.upper(),
            "is_valid": True,
            "expires_at": int(grant.expires_at),
            "scopes": sorted(grant.scopes),
            "data_access_expires_at": int(time.time() + 90 * DAY),
            **(
                {"profile_id": grant.subject}
                if grant.kind == "page"
                else {"user_id": grant.subject}
            ),
        }
    }


def _ids(fake: FakeGraph, request: Request) -> tuple[int, Any]:
    ids = [i for i in request.params.get("ids", "").split(",") if i]
    if not ids:
        raise GraphAnswerError(100, "(#100) Unsupported get request.")
    if len(ids) > 50:
        raise GraphAnswerError(100, "(#100) Too many IDs. Maximum: 50")
    grant = request.grant
    if grant is None:
        raise GraphAnswerError(190, "Invalid OAuth access token - Cannot parse access token")
    fields = split_fields(request.params.get("fields", "id"))
    return 200, {object_id: fake.read_object(object_id, fields, grant) for object_id in ids}


# --- HTTP -------------------------------------------------------------------------------------


Form = tuple[dict[str, str], dict[str, tuple[str, bytes]]]


def _form(headers: dict[str, str], body: bytes) -> Form:
    kind = headers.get("content-type", "")
    if kind.startswith("multipart/form-data"):
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {kind}\r\n\r\n".encode() + body
        )
        fields, files = {}, {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if part.get_filename():
                files[str(name)] = (str(part.get_filename()), payload)
            else:
                fields[str(name)] = payload.decode()
        return fields, files
    return dict(parse_qsl(body.decode())), {}


def _handler(fake: FakeGraph) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            fields, files = _form(headers, body)
            params = {**dict(parse_qsl(url.query)), **fields}
            path = url.path.strip("/")
            prefix = fake.version + "/"
            path = (
                path[len(prefix) :]
                if path.startswith(prefix)
                else ("" if path == fake.version else "\x00" + path)
            )
            match = re.fullmatch(r"Bearer (\S+)", headers.get("authorization", ""))
            token = match[1] if match else params.get("access_token", "")
            request = Request(method, path, params, files, headers, fake.tokens.get(token))
            with fake.lock:
                fake.requests.append(request)
            status, payload, extra, after = _dispatch(fake, request)
            if after == "drop":
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(2)
                return
            if after == "slow":
                fake.release.wait(fake.slow_seconds)
            raw = isinstance(payload, bytes)  # a proxy's page, sent as it is
            data = payload if raw else b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            for key, value in extra.items():
                self.send_header(key, value)
            if "Content-Type" not in extra:
                self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


def _dispatch(fake: FakeGraph, request: Request) -> tuple[int, Any, dict[str, str], str | None]:
    for verb, pattern, name, handler in fake.routes():
        match = re.fullmatch(pattern, request.path)
        if verb != request.method or match is None:
            continue
        failure = fake.take_failure(name)
        if failure == "drop":
            return 0, None, {}, "drop"
        if failure in faults.HTTP_FAULTS:  # a proxy's answer, before Meta's own
            status, headers, raw = faults.answer(failure)
            return status, raw, headers, None
        if failure in FAILURES:
            status, error = FAILURES[failure]
            error = {**error, "fbtrace_id": "AbCdEf"}
            # A Page's limit comes with its business use case's estimate; the app's without one.
            usage = fake.usage_header()
            extra = {
                "rate_limit": usage,
                "app_rate_limit": {"X-App-Usage": usage["X-App-Usage"]},
            }.get(failure, {})
            return status, {"error": error}, extra, None
        try:
            status, payload, *rest = handler(fake, request, *match.groups())
        except GraphAnswerError as answer:
            return answer.status, {"error": {**answer.error, "fbtrace_id": "AbCdEf"}}, {}, None
        extra = rest[0] if rest else {}
        return status, payload, extra, "slow" if failure == "timeout_after_accept" else None
    raise_for = GraphAnswerError(
        100,
        f"Unsupported {request.method.lower()} request. Object with ID"
        f" '{request.path}' does not exist",
    )
    return raise_for.status, {"error": raise_for.error}, {}, None
