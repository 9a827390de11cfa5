"""What a website's analytics recorded, for the fake Matomo and Plausible: one visit per entry.

Both fakes aggregate these raw visits the way their tool does (per campaign, source and day),
so a test states what happened on the site and reads it back through klapper.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler
from typing import Any


@dataclass(frozen=True)
class Visit:
    """One visit that came through a tagged link, and the goals it converted."""

    campaign: str
    source: str
    day: date
    visitor: str = "v1"
    goals: tuple[str, ...] = ()


@dataclass
class SiteState:
    """A fake analytics server's data, its token, what it was asked and faults to answer."""

    token: str
    visits: list[Visit] = field(default_factory=list)
    #: (status, body) answered instead of the next requests, in order
    faults: list[tuple[int, Any]] = field(default_factory=list)
    #: seconds to sit on each answer (a timeout test)
    delay: float = 0.0
    #: every request's parsed body, and the headers that matter
    asked: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: threading.Event = field(default_factory=threading.Event)

    def add(self, visits: Iterable[Visit]) -> None:
        with self.lock:
            self.visits.extend(visits)

    def next_fault(self) -> tuple[int, Any] | None:
        with self.lock:
            return self.faults.pop(0) if self.faults else None


def send_json(handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


def faulted(handler: BaseHTTPRequestHandler, state: SiteState) -> bool:
    """Answer an injected fault (or hold the answer back); True when answered."""
    if state.delay:
        state.released.wait(state.delay)
    fault = state.next_fault()
    if fault is None:
        return False
    status, body = fault
    if isinstance(body, str):
        data = body.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
    else:
        send_json(handler, status, body)
    return True
