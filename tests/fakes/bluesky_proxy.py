"""A proxy on 127.0.0.1 in front of the local PDS that fails the next post on demand.

What the PDS will not do when asked (a 5xx, a 429 with its reset time, a dropped connection, an
answer slower than the client's timeout after the post was stored, revoked credentials) this
proxy does, once, for the next call that creates a post; everything else passes through.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from klapper import testing as http_faults

CREATE_RECORD = "/xrpc/com.atproto.repo.createRecord"
POLL = 0.02  # seconds; how soon a test server notices shutdown (the default 0.5 adds up)

FAULTS = (
    "server_error",
    "rate_limit",
    "timeout_after_accept",
    "drop",
    "auth",
    *http_faults.HTTP_FAULTS,
)
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass
class _Faults:
    upstream: str
    delay: float
    next: list[str] = field(default_factory=list)  # armed faults, next create call takes one
    revoked: bool = False  # "auth": refuse every session renewal until one login was refused
    stopping: threading.Event = field(default_factory=threading.Event)
    seen: list[str] = field(default_factory=list)  # paths, for tests that count calls
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    faults: _Faults

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urlsplit(self.path).path
        faults = self.faults
        with faults.lock:
            faults.seen.append(path)
            fault = faults.next.pop(0) if faults.next and path == CREATE_RECORD else None
            if fault == "auth":
                faults.revoked = True
            revoked = faults.revoked
        if fault == "drop":
            self.close_connection = True
            return
        if fault in http_faults.HTTP_FAULTS:
            status, headers, page = http_faults.answer(fault)
            return self._send(status, list(headers.items()), page)
        if fault == "server_error":
            return self._answer(
                500, {"error": "InternalServerError", "message": "Internal Server Error"}
            )
        if fault == "rate_limit":
            reset = int(time.time()) + 30
            return self._answer(
                429,
                {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                {
                    "ratelimit-limit": "5000",
                    "ratelimit-remaining": "0",
                    "ratelimit-reset": str(reset),
                    "ratelimit-policy": "5000;w=3600",
                },
            )
        if revoked and self._refuse_auth(path):
            return
        status, headers, answer = self._forward(body)
        if fault == "timeout_after_accept":
            faults.stopping.wait(faults.delay)  # the post is stored; the answer comes too late
        self._send(status, headers, answer)

    def _refuse_auth(self, path: str) -> bool:
        """While credentials are "revoked": posts, refreshes and one login are refused."""
        if path.endswith("com.atproto.server.createSession"):
            with self.faults.lock:
                self.faults.revoked = False
            self._answer(
                401,
                {"error": "AuthenticationRequired", "message": "Invalid identifier or password"},
            )
            return True
        if path.endswith("com.atproto.server.refreshSession"):
            self._answer(400, {"error": "ExpiredToken", "message": "Token has been revoked"})
            return True
        if path == CREATE_RECORD:
            self._answer(
                401, {"error": "AuthenticationRequired", "message": "Token has been revoked"}
            )
            return True
        return False

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        target = urlsplit(self.faults.upstream)
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            headers["Host"] = target.netloc
            conn.request(self.command, self.path, body=body or None, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    def _answer(
        self, status: int, payload: dict[str, Any], extra: dict[str, str] | None = None
    ) -> None:
        headers = [("Content-Type", "application/json; charset=utf-8"), *(extra or {}).items()]
        self._send(status, headers, json.dumps(payload).encode())

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        try:
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in _HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout test)


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 in front of ``upstream`` that fails the next post on demand."""

    def __init__(self, *, upstream: str, delay: float) -> None:
        self.faults = _Faults(upstream=upstream, delay=delay)
        handler = type("Handler", (_Handler,), {"faults": self.faults})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": POLL}, daemon=True
        )
        self.thread.start()

    def fail_next(self, kind: str) -> None:
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULTS)}")
        with self.faults.lock:
            self.faults.next.append(kind)

    @property
    def seen(self) -> list[str]:
        return list(self.faults.seen)

    def close(self) -> None:
        self.faults.stopping.set()
        self.server.shutdown()
        self.server.server_close()
