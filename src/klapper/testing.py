"""What a platform's fake server needs to join klapper's adapter contract suite.

The suite (tests/adapters/test_contract.py) runs over every platform in the registry. It finds
each platform's case by convention: ``tests.fakes.<name>:adapter_case`` for built-in platforms,
``<the plugin's package>.testing:adapter_case`` for a plugin. ``adapter_case(tmp_path, **mode)``
is a context manager yielding a ``ContractCase``; a module naming several servers to imitate
lists them in ``CONTRACT_MODES`` (mode name -> keyword arguments).

A fake answers ``fail_next(kind)`` for every kind in ``FAULTS``: the suite's own (``server_error``,
``rate_limit``, ``auth``, ``drop``, ``timeout_after_accept``) and the HTTP faults of
``HTTP_FAULTS``, whose answers ``answer(kind)`` gives, as real servers and the proxies in front of
them send them, so that every platform's fake fails the same way.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any, Protocol

from klapper.adapters.base import Adapter

#: what a case may declare it lacks (``ContractCase.lacks``), each with why; "text": posts
#: without an image (Instagram), so the suite gives every post one; "answers": answering an
#: inbox item (``Adapter.reply``), which a platform lacking it refuses in one line
CAPABILITIES = ("faults", "find", "replies", "metrics", "interactions", "text", "answers")


class ContractCase(Protocol):
    """One adapter connected to its fake server, as the contract suite drives it."""

    adapter: Adapter
    #: capability (one of ``CAPABILITIES``) -> why this platform or its fake cannot do it
    lacks: Mapping[str, str]

    def posts(self) -> list[dict[str, Any]]:
        """What the server holds for the account: ``{"id", "text", "reply_to"}`` each."""

    def fail_next(self, kind: str) -> None:
        """The next post fails as ``kind`` (one of ``FAULTS``)."""

    def reply(self, *, to: str, text: str) -> None:
        """Someone else answers the post ``to`` (a remote id); for ``interactions``."""

    # Optional: ``incoming(text) -> Interaction``, something someone else said to the account
    # as its inbox holds it, for a case whose adapter reads no ``interactions`` (a review, a
    # post on a server without an AppView); the answer tests use it instead of ``reply``.


RETRY_SECONDS = 120  # Retry-After of "rate_limit_seconds"
RETRY_DATE_SECONDS = 300  # how far ahead the HTTP date of "rate_limit_date" lies

_HTML = {"Content-Type": "text/html; charset=utf-8"}
_TEXT = {"Content-Type": "text/plain; charset=utf-8"}


def _page(title: str) -> bytes:
    """An error page as nginx writes it."""
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}"
        "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


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


HTTP_FAULTS = (
    "request_timeout",
    "too_large",
    "too_early",
    "rate_limit_seconds",
    "rate_limit_date",
    "html_error",
)
#: every kind a fake's ``fail_next`` takes
FAULTS = ("server_error", "rate_limit", "auth", "drop", "timeout_after_accept", *HTTP_FAULTS)
