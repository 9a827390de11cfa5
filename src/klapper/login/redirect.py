"""A one-shot HTTP listener on 127.0.0.1 that receives an OAuth redirect and hands back the code.

Usage::

    with RedirectListener(port=8914) as listener:
        url = authorization_url(redirect_uri=listener.redirect_uri, state=listener.state)
        ui.open(url)
        code = listener.wait(timeout=300)

The platform must know ``listener.redirect_uri`` exactly (X and LinkedIn compare it character by
character), so a login flow passes the port registered with the app; tests pass ``port=0``.
The authorization code is never logged: the handler's request log is silenced. Connections are
served each in its own thread, so a browser's idle pre-connection cannot hold up the redirect,
and a browser that goes away before the page is written is no error.
"""

from __future__ import annotations

import html
import queue
import secrets
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

#: the port klapper's login flows listen on unless told otherwise; register
#: http://127.0.0.1:8914/callback as the redirect URI of your X or LinkedIn app.
DEFAULT_PORT = 8914
DEFAULT_PATH = "/callback"


#: seconds a connection may stay silent before its thread gives up on it
IDLE_TIMEOUT = 30.0


class _Server(ThreadingHTTPServer):
    """One thread per connection; closing does not wait for idle ones."""

    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: object, client_address: object) -> None:
        # The browser closed the connection (a reload, a closed tab, a pre-connection):
        # nothing is lost, and a traceback would only alarm the person logging in.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class RedirectError(RuntimeError):
    """The OAuth redirect did not bring a usable code (refused, wrong state, or none in time)."""


@dataclass(frozen=True)
class _Answer:
    code: str | None
    state: str | None
    error: str | None
    error_description: str | None


class RedirectListener:
    """Listens on 127.0.0.1 for one OAuth redirect; ``wait`` returns its authorization code."""

    def __init__(
        self, *, port: int = 0, path: str = DEFAULT_PATH, state: str | None = None
    ) -> None:
        self.path = path if path.startswith("/") else f"/{path}"
        # A fresh unguessable state per login, unless the caller brings its own.
        self.state = state or secrets.token_urlsafe(24)
        self._port = port
        self._answers: queue.Queue[_Answer] = queue.Queue()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def redirect_uri(self) -> str:
        """The URI to register with the app and to send in the authorization request."""
        if self._server is None:
            raise RuntimeError("RedirectListener is not started; use it as a context manager")
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.path}"

    def __enter__(self) -> RedirectListener:
        try:
            self._server = _Server(("127.0.0.1", self._port), self._handler_class())
        except OSError as exc:
            raise RedirectError(
                f"cannot listen on 127.0.0.1:{self._port} for the login redirect ({exc.strerror});"
                " close the program using that port or choose another with --port"
            ) from exc
        self._thread = threading.Thread(
            # A short poll interval makes close() prompt.
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="klapper-oauth-redirect",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop listening (idempotent)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def wait(self, *, state: str | None = None, timeout: float = 300.0) -> str:
        """Block until the redirect arrives; return its code, or raise ``RedirectError``.

        ``state`` defaults to ``self.state``. A redirect with another state (a stale tab, a
        forged request) is answered with an error page and ignored; waiting goes on.
        """
        if state:
            self.state = state  # so the browser page judges by the same state
        mismatched = 0
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                answer = self._answers.get(timeout=left)
            except queue.Empty:
                break
            if answer.state != self.state:
                mismatched += 1
                continue
            if answer.error:
                detail = f": {answer.error_description}" if answer.error_description else ""
                raise RedirectError(
                    f"the authorization was refused ({answer.error}{detail});"
                    " run the login again and allow access"
                )
            if answer.code:
                return answer.code
        note = (
            f"; {mismatched} redirect(s) with a wrong state were ignored (an old browser tab?)"
            if mismatched
            else ""
        )
        raise RedirectError(
            f"no authorization arrived at {self.redirect_uri} within {timeout:.0f} s{note};"
            " run the login again and finish it in the browser"
        )

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            timeout = IDLE_TIMEOUT  # a silent connection ends, its thread with it

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path != listener.path:
                    self._page(404, "Not found", "This is klapper's login listener.")
                    return
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                answer = _Answer(
                    code=query.get("code"),
                    state=query.get("state"),
                    error=query.get("error"),
                    error_description=query.get("error_description"),
                )
                if not (answer.code or answer.error):
                    self._page(400, "Nothing received", "The redirect carried no code.")
                    return
                listener._answers.put(answer)
                if answer.state != listener.state:
                    self._page(400, "Wrong state", "This answer belongs to another login.")
                elif answer.error:
                    self._page(200, "Access refused", f"{answer.error}; see the terminal.")
                else:
                    self._page(200, "Done", "klapper is logged in; you can close this tab.")

            def _page(self, status: int, title: str, text: str) -> None:
                body = (
                    f"<!doctype html><title>klapper: {html.escape(title)}</title>"
                    f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>"
                ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                # The request line holds the authorization code: never print it.
                return

        return Handler
