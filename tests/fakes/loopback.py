"""Serving a fake server's request handler on 127.0.0.1 (a free port) in a thread."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextlib.contextmanager
def serving(
    handler: type[BaseHTTPRequestHandler], *, on_stop: Callable[[], None] = lambda: None
) -> Iterator[str]:
    """The server's base URL while it runs; ``on_stop`` first lets held-back answers go."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        on_stop()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
