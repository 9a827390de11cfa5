"""A web server on 127.0.0.1 serving a content repository's media, right or wrong per path.

What `media_url` points at in `klapper check --online` tests: each path is served as told by
its ``Serve`` (status, type, the bytes whose length is announced, a redirect, a held-back
answer, HEAD refused), and every request is recorded as (method, path, Range header).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.loopback import serving


@dataclass(frozen=True)
class Serve:
    """How one path answers; ``body`` is what Content-Length announces (HEAD sends none)."""

    body: bytes = b""
    status: int = 200
    kind: str = "image/jpeg"
    location: str | None = None  # a redirect's target
    hold: bool = False  # answer only when the host stops (a server that is too slow)
    head: bool = True  # False: HEAD answers 405, GET honours Range as S3 does
    length: bool = True  # False: no Content-Length


class MediaHost:
    """Serves ``routes`` (path -> Serve); unknown paths are 404 pages in HTML."""

    def __init__(self, routes: dict[str, Serve]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, str, str | None]] = []
        self.release = threading.Event()

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        with serving(self._handler(), on_stop=self.release.set) as url:
            yield url

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        host = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                self._answer(head=True)

            def do_GET(self) -> None:
                self._answer(head=False)

            def _answer(self, *, head: bool) -> None:
                ranged = self.headers.get("Range")
                host.requests.append(("HEAD" if head else "GET", self.path, ranged))
                serve = host.routes.get(self.path, Serve(b"<h1>not found</h1>", 404, "text/html"))
                if serve.hold:
                    host.release.wait(timeout=10)
                if head and not serve.head:
                    self._send(405, "text/plain", b"", head=True)
                elif serve.location is not None:
                    self.send_response(serve.status)
                    self.send_header("Location", serve.location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif ranged == "bytes=0-0" and serve.status == 200 and not serve.head:
                    self.send_response(206)
                    self.send_header("Content-Type", serve.kind)
                    self.send_header("Content-Range", f"bytes 0-0/{len(serve.body)}")
                    self.send_header("Content-Length", "1")
                    self.end_headers()
                    self.wfile.write(serve.body[:1])
                else:
                    self._send(serve.status, serve.kind, serve.body, head=head, length=serve.length)

            def _send(
                self, status: int, kind: str, body: bytes, *, head: bool, length: bool = True
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                if length:
                    self.send_header("Content-Length", str(len(body)))
                else:
                    self.send_header("Connection", "close")
                self.end_headers()
                if not head:
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        self.wfile.write(body)

        return Handler
