"""A fake webhook receiver on 127.0.0.1, and the plugin's case for klapper's contract suite.

The receiver answers as a plain JSON receiver, Discord or Slack. Every request is kept (path,
query, headers, body). ``fail_next`` queues faults the way real receivers fail: ``500``
(Retry-After: 2), ``429`` (Retry-After as an HTTP date, as Discord's edge and many proxies send
it), ``413`` (an HTML error page), ``401`` (a refused header), and every kind of
``klapper.testing.FAULTS``. ``adapter_case`` is what klapper's contract suite finds by
convention (``klapper_webhook.testing:adapter_case``).
"""

from __future__ import annotations

import email.utils
import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from klapper import testing
from klapper_webhook.adapter import WebhookAdapter

#: what a fault "timeout_after_accept" keeps the client waiting, past the case's timeout
SLOW_SECONDS = 2.0
CASE_TIMEOUT = 1.0


@dataclass
class Received:
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeWebhook:
    kind: str = "json"  # json | discord | slack
    received: list[Received] = field(default_factory=list)
    accepted: list[tuple[str, Received]] = field(default_factory=list)  # (id given, request)
    faults: list[str] = field(default_factory=list)
    url: str = ""
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1_100_000_000_000_000_000))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, kind: str, times: int = 1) -> None:
        self.faults.extend([kind] * times)

    def accepted_so_far(self) -> list[tuple[str, Received]]:
        with self._lock:
            return list(self.accepted)

    def answer(self, request: Received) -> tuple[int, dict[str, str], bytes] | None:
        """The answer to ``request``; None to drop the connection without one."""
        with self._lock:
            self.received.append(request)
            fault = self.faults.pop(0) if self.faults else None
            next_id = str(next(self._ids))
        if fault in testing.HTTP_FAULTS:
            return testing.answer(fault)
        if fault == "drop":
            return None
        if fault == "server_error":
            return 503, {"Content-Type": "application/json"}, b'{"message": "Service Unavailable"}'
        fault = {"rate_limit": "429", "auth": "401"}.get(fault or "", fault)
        if fault == "500":
            return 500, {"Retry-After": "2", "Content-Type": "text/plain"}, b"upstream failed"
        if fault == "429":
            later = email.utils.formatdate(time.time() + 120, usegmt=True)
            return (
                429,
                {"Retry-After": later, "Content-Type": "application/json"},
                b'{"message": "You are being rate limited."}',
            )
        if fault == "413":
            return (
                413,
                {"Content-Type": "text/html"},
                b"<html><head><title>413 Request Entity Too Large</title></head></html>",
            )
        if fault == "401":
            return 401, {"Content-Type": "application/json"}, b'{"error": "invalid_token"}'
        with self._lock:
            self.accepted.append((next_id, request))
        if fault == "timeout_after_accept":
            time.sleep(SLOW_SECONDS)  # accepted; the answer comes after the client gave up
        if self.kind == "slack":
            return 200, {"Content-Type": "text/plain"}, b"ok"
        if self.kind == "discord" and "wait=true" not in request.query:
            return 204, {}, b""
        return (
            200,
            {"Content-Type": "application/json"},
            json.dumps({"id": next_id, "url": f"{self.url}/messages/{next_id}"}).encode(),
        )


@contextmanager
def serve(kind: str = "json") -> Iterator[FakeWebhook]:
    fake = FakeWebhook(kind=kind)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            parsed = urlparse(self.path)
            request = Received(
                parsed.path, parsed.query, dict(self.headers.items()), self.rfile.read(length)
            )
            answered = fake.answer(request)
            if answered is None:
                self.close_connection = True
                return
            status, headers, body = answered
            try:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up waiting

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


# --- klapper's contract suite -----------------------------------------------------------


@dataclass
class Case:
    """A json webhook account on a fresh receiver (see klapper.testing.ContractCase)."""

    adapter: WebhookAdapter
    receiver: FakeWebhook
    lacks: dict[str, str] = field(
        default_factory=lambda: {
            "find": "a webhook cannot be asked what it received; json sends again with the same"
            " Idempotency-Key for the receiver to drop (see README.md)",
            "replies": "a webhook message answers none: the thread goes with the first request",
            "metrics": "a webhook reports no reactions",
            "interactions": "a webhook receives nothing back",
            "answers": "a webhook receives nothing back, so there is nothing to answer",
        }
    )

    def posts(self) -> list[dict[str, Any]]:
        accepted = self.receiver.accepted_so_far()
        return [
            {"id": given, "text": request.json()["text"], "reply_to": None}
            for given, request in accepted
        ]

    def fail_next(self, kind: str) -> None:
        if kind not in testing.FAULTS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(testing.FAULTS)}")
        self.receiver.fail_next(kind)

    def reply(self, *, to: str, text: str) -> None:
        raise AssertionError("nobody answers through a webhook; the case says so in lacks")


@contextmanager
def adapter_case(tmp_path: Path) -> Iterator[Case]:
    """A WebhookAdapter (format json, timeout 1 s) posting to a fresh fake receiver."""
    with serve("json") as receiver:
        adapter = WebhookAdapter(
            name="site",
            settings={"url": receiver.url, "format": "json"},
            secrets={},
            repo=tmp_path,
            timeout=CASE_TIMEOUT,
        )
        try:
            yield Case(adapter=adapter, receiver=receiver)
        finally:
            adapter.close()
