"""Graph API error answers into klapper's errors, by Meta's error code, in one place.

Meta answers a failed call with ``{"error": {"message", "type", "code", "error_subcode",
"is_transient", "fbtrace_id"}}`` and an HTTP status that says little (400 for most). The code
decides (developers.facebook.com/docs/graph-api/guides/error-handling):

    190                      token expired or revoked     AuthExpiredError, with the login hint
    10, 200-299              a permission is missing      AuthExpiredError (missing_access)
    4, 17, 32, 613, 80001-9  rate limits                  RateLimitedError, until the usage
                                                          headers say, else an hour
    subcode 2207042          Instagram's publishing quota RateLimitedError, an hour
    368                      temporarily blocked          RateLimitedError, a day
    1, 2, is_transient       Meta's own trouble           TransientError
    100                      invalid parameter            PermanentError with Meta's message

Anything else goes to ``http_errors.error_for``, which decides by the HTTP status.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from klapper.adapters.base import (
    AdapterError,
    AuthExpiredError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from klapper.adapters.http_errors import error_for, reason_of

TOKEN_CODES = frozenset({190, 102})
RATE_CODES = frozenset({4, 17, 32, 613, *range(80001, 80010)})
#: Instagram's "maximum number of posts" (code 9): the 24-hour publishing quota is used up
RATE_SUBCODES = frozenset({2207042})
BLOCKED = 368
TRANSIENT_CODES = frozenset({1, 2})
INVALID_PARAMETER = 100
#: how long to wait on a rate limit whose usage headers do not say
DEFAULT_RATE_WAIT = timedelta(hours=1)
#: how long to wait when Meta blocked the account for a while (it does not say how long)
BLOCK_WAIT = timedelta(days=1)
USAGE_HEADERS = ("x-business-use-case-usage", "x-app-usage", "x-ad-account-usage")


def graph_error(
    *,
    platform: str,
    status: int,
    action: str,
    relogin: str,
    headers: Mapping[str, str] | None = None,
    body: str | bytes | Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> AdapterError:
    """The klapper error for one failed Graph API answer (``action``: what was tried)."""
    now = now or datetime.now(UTC)
    headers = {key.lower(): value for key, value in (headers or {}).items()}
    error = _error_object(body)
    code = _int(error.get("code"))
    said = _said(error) or reason_of(body, status=status)
    if code in TOKEN_CODES:
        return AuthExpiredError(
            f"{platform} refused the access token to {action} ({said}); {relogin}"
        )
    if code == 10 or (code is not None and 200 <= code <= 299):
        return AuthExpiredError(
            f"{platform} refused to {action}: a permission is missing ({said}); give the app"
            f" the permission, then {relogin}",
            missing_access=action,
        )
    if code in RATE_CODES or _int(error.get("error_subcode")) in RATE_SUBCODES:
        until = regain_access(headers, now=now) or now + DEFAULT_RATE_WAIT
        return RateLimitedError(
            f"{platform} rate limit reached to {action} until {until:%Y-%m-%d %H:%M} UTC ({said})",
            until=until,
        )
    if code == BLOCKED:
        until = regain_access(headers, now=now) or now + BLOCK_WAIT
        return RateLimitedError(
            f"{platform} has temporarily blocked this account from trying to {action} ({said});"
            f" klapper waits until {until:%Y-%m-%d %H:%M} UTC",
            until=until,
        )
    if code in TRANSIENT_CODES or error.get("is_transient") is True:
        return TransientError(f"{platform} could not {action} now ({said}); trying again later")
    if code == INVALID_PARAMETER:
        return PermanentError(f"{platform} refused to {action}: {said}")
    return error_for(
        platform=platform,
        status=status,
        action=action,
        relogin=relogin,
        headers=headers,
        reason=said,
        now=now,
    )


def regain_access(headers: Mapping[str, str], *, now: datetime) -> datetime | None:
    """When the usage headers say access comes back (``estimated_time_to_regain_access``,
    minutes), the latest of all they name; None when none says."""
    minutes = [
        value for name in USAGE_HEADERS for value in _regain_minutes(_parse(headers.get(name)))
    ]
    wait = max(minutes, default=0)
    return now + timedelta(minutes=wait) if wait > 0 else None


def _regain_minutes(usage: Any) -> list[float]:
    """Every estimated_time_to_regain_access in a usage header, however deeply nested."""
    if isinstance(usage, Mapping):
        found = []
        for key, value in usage.items():
            if key == "estimated_time_to_regain_access" and isinstance(value, (int, float)):
                found.append(float(value))
            else:
                found += _regain_minutes(value)
        return found
    if isinstance(usage, list):
        return [minutes for item in usage for minutes in _regain_minutes(item)]
    return []


def _parse(value: str | None) -> Any:
    try:
        return json.loads(value) if value else None
    except ValueError:
        return None


def _error_object(body: str | bytes | Mapping[str, Any] | None) -> Mapping[str, Any]:
    data: Any = body
    if isinstance(data, (str, bytes)):
        data = _parse(data.decode("utf-8", "replace") if isinstance(data, bytes) else data)
    error = data.get("error") if isinstance(data, Mapping) else None
    return error if isinstance(error, Mapping) else {}


def _said(error: Mapping[str, Any]) -> str:
    """Meta's message with its code: what a person can search Meta's docs for."""
    message = " ".join(str(error.get("error_user_msg") or error.get("message") or "").split())
    if not message:
        return ""
    code, sub = error.get("code"), error.get("error_subcode")
    tag = f"code {code}" + (f", subcode {sub}" if sub else "") if code is not None else ""
    return f"{message[:200]} ({tag})" if tag else message[:200]


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
