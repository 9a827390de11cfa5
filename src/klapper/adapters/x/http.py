"""X's HTTP edge: a session with a default timeout, and X's answers turned into klapper errors.

What only X means is handled here (403s for API tiers, app permissions and duplicates; the
``x-rate-limit-*`` reset headers); every other status goes to ``http_errors.error_for``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import requests
import tweepy

from klapper.adapters.base import (
    AdapterError,
    AuthExpiredError,
    PermanentError,
    TransientError,
)
from klapper.adapters.http_errors import error_for, no_answer, reason_of

#: where klapper's own calls (media upload, token refresh) go; tweepy has its host built in
API_BASE = "https://api.x.com"
#: tweepy 4.17 sends every v2 call here (hard-coded in tweepy.client.BaseClient.request)
TWEEPY_HOST = "https://api.twitter.com"

# Problem types X uses when the app or token may not use an endpoint at all.
_ACCESS_PROBLEMS = ("client-forbidden", "unsupported-authentication", "oauth1-permissions")
_TIER_CODE = 453  # "You currently have access to a subset of X API V2 endpoints ..."


class XSession(requests.Session):
    """A requests session whose calls time out after ``timeout`` seconds (tweepy sets none)."""

    def __init__(self, *, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


class XHTTPError(Exception):
    """A non-2xx answer to one of klapper's own requests; carries the response like tweepy's."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def check(response: requests.Response) -> requests.Response:
    """Return ``response`` if it is a success, else raise ``XHTTPError``."""
    if not 200 <= response.status_code < 300:
        raise XHTTPError(response)
    return response


def _body(response: requests.Response) -> Mapping[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, Mapping) else {}


def _reason(body: Mapping[str, Any], response: requests.Response) -> str:
    """X's own words: specific error messages first, then the problem's detail or title."""
    parts: list[str] = []
    for error in body.get("errors") or ():
        message = error.get("message") if isinstance(error, Mapping) else str(error)
        if message and message not in parts:
            parts.append(str(message))
    for key in ("detail", "error_description", "title", "error"):
        value = body.get(key)
        if value and str(value) not in parts:
            parts.append(str(value))
            break
    # Not X's JSON (a proxy's HTML page): its title, or the status.
    return "; ".join(parts) or reason_of(response.content, status=response.status_code)


def rate_limit_until(headers: Mapping[str, str]) -> datetime | None:
    """When the exhausted limit resets: the 15-minute window, or a spent 24-hour post cap."""
    resets: list[int] = []
    if headers.get("x-rate-limit-reset", "").isdigit():
        resets.append(int(headers["x-rate-limit-reset"]))
    # POST /2/tweets also has daily caps per user and per app; when one is spent, X still
    # sends the 15-minute reset, which would be far too early.
    for cap in ("x-user-limit-24hour", "x-app-limit-24hour"):
        if headers.get(f"{cap}-remaining") == "0" and headers.get(f"{cap}-reset", "").isdigit():
            resets.append(int(headers[f"{cap}-reset"]))
    return datetime.fromtimestamp(max(resets), UTC) if resets else None


def error_from_response(response: requests.Response, *, action: str, account: str) -> AdapterError:
    """Translate one failed X answer (status, headers, body) into klapper's error tree."""
    status = response.status_code
    body = _body(response)
    reason = _reason(body, response)
    if status == 403:
        return _forbidden(body, reason, action=action, account=account)
    return error_for(
        platform="X",
        status=status,
        action=action,
        relogin=f"run `klapper login {account}`",
        headers=response.headers,
        reason=reason,
        rate_reset=rate_limit_until(response.headers),
    )


def _forbidden(body: Mapping[str, Any], reason: str, *, action: str, account: str) -> AdapterError:
    problem = str(body.get("type") or "")
    codes = {e.get("code") for e in body.get("errors") or () if isinstance(e, Mapping)}
    if "duplicate content" in reason.lower():
        return PermanentError(f"X refused to {action}, a duplicate: {reason}; change the text")
    if body.get("reason") == "client-not-enrolled" or _TIER_CODE in codes:
        return AuthExpiredError(
            f"your X API tier lacks {action} ({body.get('reason') or f'code {_TIER_CODE}'}:"
            f" {reason}); upgrade the app's access in the X developer portal",
            missing_access=action,
        )
    if any(problem.endswith(kind) for kind in _ACCESS_PROBLEMS):
        return AuthExpiredError(
            f"X does not let this token {action} ({reason}); check the app's permissions"
            f" (read and write) in the developer portal, then run `klapper login {account}`"
        )
    # A plain 403 on one action (a reply that is not allowed, a protected conversation ...).
    return PermanentError(f"X refused to {action}: {reason}")


def error_from_exception(
    exc: Exception, *, action: str, account: str, timeout: float
) -> AdapterError:
    """Translate tweepy's, requests' and our own exceptions at the adapter's edge."""
    if isinstance(exc, AdapterError):
        return exc
    if isinstance(exc, tweepy.HTTPException | XHTTPError):
        return error_from_response(exc.response, action=action, account=account)
    if isinstance(exc, requests.Timeout | requests.ConnectionError):
        return no_answer(exc, platform="X", action=action, timeout=timeout)
    if isinstance(exc, requests.RequestException | ValueError):
        return TransientError(
            f"X gave no usable answer when asked to {action} ({type(exc).__name__})"
        )
    raise exc


class _DropDebug(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


_QUIET = _DropDebug()
_CHATTY_LOGGERS = (
    "tweepy.client",
    "requests_oauthlib.oauth2_session",
    "requests_oauthlib.oauth1_session",
    "requests_oauthlib.oauth1_auth",
    "oauthlib.oauth1.rfc5849",
    "oauthlib.oauth1.rfc5849.signature",
)


def quiet_library_debug_logs() -> None:
    """Drop the client libraries' DEBUG records: they print request headers and token bodies.

    tweepy logs the ``Authorization: Bearer`` header, requests-oauthlib and oauthlib log
    tokens and signed parameters, so no log level setting of the user may reveal them.
    """
    # Logger filters do not pass down to child loggers, so each module is named.
    for name in _CHATTY_LOGGERS:
        logger = logging.getLogger(name)
        if _QUIET not in logger.filters:
            logger.addFilter(_QUIET)
