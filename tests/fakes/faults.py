"""The HTTP faults every fake server can answer with, as real servers and the proxies in front
of them send them: one definition, so that each platform's fake fails the same way.

``answer(kind)`` gives (status, headers, body) for a kind in ``HTTP_FAULTS``; the contract suite
(tests/adapters/test_contract.py) expects each to map to the same klapper error everywhere.
"""

from __future__ import annotations

import email.utils
import time

RETRY_SECONDS = 120  # Retry-After of "rate_limit_seconds"
RETRY_DATE_SECONDS = 300  # how far ahead the HTTP date of "rate_limit_date" lies

_HTML = {"Content-Type": "text/html; charset=utf-8"}
_TEXT = {"Content-Type": "text/plain; charset=utf-8"}


def _page(title: str) -> bytes:
    """An error page as nginx writes it."""
    return (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}"
            "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n").encode()


def answer(kind: str) -> tuple[int, dict[str, str], bytes]:
    """The answer for fault ``kind`` (one of ``HTTP_FAULTS``), made now (HTTP dates move on)."""
    if kind == "request_timeout":
        return 408, _HTML, _page("408 Request Time-out")
    if kind == "too_large":
        return 413, _HTML, _page("413 Request Entity Too Large")
    if kind == "too_early":
        return 425, _TEXT, b"Too Early"
    if kind == "rate_limit_seconds":  # a proxy's limit: Retry-After only, no platform headers
        return 429, {**_TEXT, "Retry-After": str(RETRY_SECONDS)}, b"Too Many Requests"
    if kind == "rate_limit_date":
        later = email.utils.formatdate(time.time() + RETRY_DATE_SECONDS, usegmt=True)
        return 429, {**_HTML, "Retry-After": later}, _page("429 Too Many Requests")
    if kind == "html_error":
        return 502, _HTML, _page("502 Bad Gateway")
    raise ValueError(f"unknown HTTP fault {kind!r}; known: {', '.join(HTTP_FAULTS)}")


HTTP_FAULTS = ("request_timeout", "too_large", "too_early", "rate_limit_seconds",
               "rate_limit_date", "html_error")
