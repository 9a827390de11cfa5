"""One translation from a platform's HTTP answer (status, Retry-After, body) to klapper's errors.

Every adapter calls ``error_for`` at its edge, after handling what only its platform means (X's
API tiers, LinkedIn's retired versions ...), so that one status means one thing everywhere:

    token refused (401, or any answer that says so)   AuthExpiredError, with the login hint
    429                                               RateLimitedError, always with ``until``
    408, 425, 5xx                                     TransientError (``retry_after`` if said)
    no answer at all (``no_answer``)                  TransientError: maybe done, ask ``find``
    413                                               PermanentError: too large
    any other 4xx                                     PermanentError, with the platform's words

``renew_once`` is the one "renew the token once when the platform refuses it" loop.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from klapper.adapters.base import (
    AdapterError,
    AuthExpiredError,
    PermanentError,
    RateLimitedError,
    TransientError,
)

T = TypeVar("T")

#: how long to wait on a 429 that does not say when its limit resets
DEFAULT_RATE_WAIT = timedelta(minutes=1)
#: statuses that mean "ask again later", besides every 5xx
_TRANSIENT = frozenset({408, 425})
# What servers write when a token is bad, whatever status they send it with (Takahē answers
# 400 text/html "Invalid Bearer token"; OAuth servers say invalid_token).
_TOKEN_REFUSED = re.compile(
    r"invalid[ _]?(?:bearer|access[ _]?token|token)|(?:expired|revoked)[ _]?token"
    r"|token (?:is |has )?(?:been )?(?:invalid|expired|revoked)",
    re.IGNORECASE,
)
_REASON_KEYS = ("error_description", "detail", "message", "error", "title")
_MAX_REASON = 200


def retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def reason_of(body: str | bytes | Mapping[str, Any] | None, *, status: int | None) -> str:
    """The platform's own words from an error body: JSON fields, an HTML title, or the status."""
    data: Any = body
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    if isinstance(data, str):
        text = data.strip()
        try:
            data = json.loads(text) if text[:1] in "{[" and text else text
        except ValueError:
            data = text
    if isinstance(data, Mapping):
        for key in _REASON_KEYS:
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                return _short(value)
            if isinstance(value, Mapping) and isinstance(value.get("message"), str):
                return _short(value["message"])
        return f"HTTP {status}" if status else "an answer without a reason"
    if isinstance(data, str) and data:
        return _short(_html_text(data) if "<" in data else data)
    return f"HTTP {status}" if status else "no answer"


def token_refused(status: int | None, reason: str) -> bool:
    """True when the answer says the credential is bad: a 401, or words to that effect."""
    return status == 401 or bool(_TOKEN_REFUSED.search(reason))


def error_for(
    *,
    platform: str,
    status: int,
    action: str,
    relogin: str,
    headers: Mapping[str, str] | None = None,
    body: str | bytes | Mapping[str, Any] | None = None,
    reason: str | None = None,
    rate_reset: datetime | None = None,
    now: datetime | None = None,
) -> AdapterError:
    """The klapper error for one failed answer.

    ``action`` says what was tried ("publish a post"); ``relogin`` what to do about a refused
    token ("run `klapper login shop`"); ``rate_reset`` is when the platform's own headers say
    its limit resets (else ``Retry-After``, else a minute from now).
    """
    now = now or datetime.now(UTC)
    headers = {key.lower(): value for key, value in (headers or {}).items()}
    said = reason or reason_of(body, status=status)
    wait = retry_after(headers.get("retry-after"), now=now)
    if token_refused(status, said):
        return AuthExpiredError(
            f"{platform} refused the credentials to {action} (HTTP {status}: {said}); {relogin}"
        )
    if status == 429:
        later = timedelta(seconds=wait) if wait is not None else DEFAULT_RATE_WAIT
        until = rate_reset or now + later
        return RateLimitedError(
            f"{platform} rate limit reached to {action} until {until:%Y-%m-%d %H:%M:%S} UTC:"
            f" {said}",
            until=until,
        )
    if status in _TRANSIENT or status >= 500:
        return TransientError(
            f"{platform} could not {action} now (HTTP {status}: {said}); trying again later",
            retry_after=wait,
        )
    if status == 413:
        return PermanentError(f"{platform} refused to {action}: too large (HTTP 413: {said})")
    return PermanentError(f"{platform} refused to {action} (HTTP {status}: {said})")


def no_answer(exc: Exception, *, platform: str, action: str, timeout: float) -> TransientError:
    """A request that got no HTTP answer (timeout, refused or dropped connection).

    Whether the platform acted on it is unknown, so the publisher asks ``find`` before sending
    again. Only the exception's type is named: a library's message can quote the request.
    """
    if _is_timeout(exc):
        return TransientError(f"{platform} did not answer within {timeout:g} s to {action}")
    return TransientError(f"the connection to {platform} failed to {action} ({type(exc).__name__})")


def _is_timeout(exc: BaseException) -> bool:
    return "Timeout" in type(exc).__name__ or isinstance(exc, TimeoutError)


def renew_once(
    call: Callable[[], T], *, renew: Callable[[], bool], refused: Callable[[Exception], bool]
) -> T:
    """``call()``; when it fails with a refused token, ``renew()`` and call once more.

    ``renew`` returns False when this account cannot renew (no refresh token): the first error
    stands. A token refused again right after renewing is not renewed a second time.
    """
    try:
        return call()
    except Exception as exc:
        if not refused(exc) or not renew():
            raise
    return call()


def _html_text(page: str) -> str:
    title = re.search(r"<title[^>]*>(.*?)</title>", page, re.IGNORECASE | re.DOTALL)
    if title and title.group(1).strip():
        return html.unescape(title.group(1))
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"
