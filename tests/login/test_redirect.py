"""The OAuth redirect listener: returns the code, checks state, reports refusals and timeouts."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest
import requests

from klapper.login.redirect import RedirectError, RedirectListener


def _visit(url: str) -> requests.Response:
    return requests.get(url, timeout=5)


def test_returns_code_for_matching_state() -> None:
    with RedirectListener() as listener:
        assert listener.redirect_uri.startswith("http://127.0.0.1:")
        page = _visit(f"{listener.redirect_uri}?code=abc123&state={listener.state}")
        assert page.status_code == 200
        assert listener.wait(timeout=5) == "abc123"


def test_ignores_wrong_state_then_accepts_right_one() -> None:
    with RedirectListener(state="expected") as listener:
        stale = _visit(f"{listener.redirect_uri}?code=old&state=other")
        assert stale.status_code == 400
        _visit(f"{listener.redirect_uri}?code=good&state=expected")
        assert listener.wait(timeout=5) == "good"


def test_refusal_is_reported() -> None:
    with RedirectListener() as listener:
        _visit(
            f"{listener.redirect_uri}?error=access_denied"
            f"&error_description=user+said+no&state={listener.state}"
        )
        with pytest.raises(RedirectError, match="access_denied: user said no"):
            listener.wait(timeout=5)


def test_timeout_mentions_ignored_redirects() -> None:
    with RedirectListener() as listener:
        _visit(f"{listener.redirect_uri}?code=x&state=forged")
        with pytest.raises(RedirectError, match="1 redirect"):
            listener.wait(timeout=0.2)


def test_other_paths_and_empty_callbacks_are_not_answers() -> None:
    with RedirectListener() as listener:
        assert _visit(listener.redirect_uri.replace("/callback", "/favicon.ico")).status_code == 404
        assert _visit(listener.redirect_uri).status_code == 400
        with pytest.raises(RedirectError, match="no authorization arrived"):
            listener.wait(timeout=0.1)


def test_code_arriving_while_waiting() -> None:
    with RedirectListener() as listener:
        url = f"{listener.redirect_uri}?code=late&state={listener.state}"
        threading.Timer(0.05, _visit, args=(url,)).start()
        assert listener.wait(timeout=5) == "late"


def test_busy_port_is_a_clear_error() -> None:
    with RedirectListener() as first:
        port = int(first.redirect_uri.rsplit(":", 1)[1].split("/")[0])
        with (
            pytest.raises(RedirectError, match=f"cannot listen on 127.0.0.1:{port}"),
            RedirectListener(port=port),
        ):
            pass


def test_an_idle_connection_does_not_hold_up_the_redirect() -> None:
    with RedirectListener() as listener:
        host, port = "127.0.0.1", int(listener.redirect_uri.rsplit(":", 1)[1].split("/")[0])
        with socket.create_connection((host, port), timeout=5):  # a browser's pre-connection
            started = time.monotonic()
            page = _visit(f"{listener.redirect_uri}?code=real&state={listener.state}")
            assert page.status_code == 200 and time.monotonic() - started < 2
            assert listener.wait(timeout=5) == "real"


def test_a_browser_that_goes_away_leaves_no_traceback(capfd: pytest.CaptureFixture[str]) -> None:
    with RedirectListener() as listener:
        port = int(listener.redirect_uri.rsplit(":", 1)[1].split("/")[0])
        for _ in range(10):
            gone = socket.create_connection(("127.0.0.1", port), timeout=5)
            gone.sendall(b"GET /callback?code=c&state=other HTTP/1.1\r\nHost: x\r\n\r\n")
            # Close with a reset, before the page is read: the server's write fails.
            gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            gone.close()
        _visit(f"{listener.redirect_uri}?code=after&state={listener.state}")
        assert listener.wait(timeout=5) == "after"
    time.sleep(0.2)  # the handler threads of the reset connections finish
    assert "Traceback" not in capfd.readouterr().err
