"""Mastodon's HTTP edge: a counted session, Mastodon.py without version detection, the instance.

Mastodon.py 2.3 detects the server's version itself through ``/api/v1/instance/`` (with a
trailing slash); servers that answer that with 404 (Takahē) send it into endless recursion. So
klapper reads ``/api/v2/instance``, then ``/api/v1/instance`` (without the slash) itself and
tells Mastodon.py the version (``make_client``). ``refusal`` turns an error answer into klapper's
error tree: what only Mastodon means (403 outside the token's scopes, 404/405 for an endpoint a
server lacks), then ``http_errors.error_for`` (a token refused with any status, as Takahē's
``400 text/html "Invalid Bearer token"``; 429 until ``X-RateLimit-Reset``, else Retry-After).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import requests
from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonRatelimitError,
)

from klapper.adapters.base import AdapterError, AuthExpiredError, PermanentError, TransientError
from klapper.adapters.http_errors import error_for, reason_of, token_refused

__all__ = [
    "CountingSession",
    "NotFoundError",
    "RefusedError",
    "api_version",
    "make_client",
    "rate_reset",
    "read_instance",
    "refusal",
    "said",
    "translate",
]

#: what Mastodon.py is told when the server names no Mastodon version (Takahē says
#: "takahe/0.11.0", GoToSocial "0.17.3"): every server in use speaks the v2 media upload
DEFAULT_API_VERSION = "4.0.0"


class NotFoundError(PermanentError):
    """HTTP 404 or 405: the status (or the endpoint, on this server) does not exist."""


class RefusedError(Exception):
    """An error answer to klapper's own request: its status and what the server said."""

    def __init__(self, status: int, said: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status, said)
        self.status, self.said, self.headers = status, said, dict(headers or {})


class CountingSession(requests.Session):
    """A session that counts every request it sends and keeps the last error answer's words
    and headers (Mastodon.py keeps neither: a body that is not JSON, Retry-After)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0
        self.refusal = ""  # the body of the last answer, as text, when it was an error
        self.refused_headers: Mapping[str, str] = {}

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sent += 1
        response = super().send(request, **kwargs)
        failed = response.status_code >= 400
        self.refusal = said(response) if failed else ""
        self.refused_headers = dict(response.headers) if failed else {}
        return response


def api_version(version: str | None) -> str:
    """The Mastodon API version ``version`` (the instance's own string) claims, as X.Y.Z.

    "4.3.2", "4.2.0+glitch", "2.7.2 (compatible; Pleroma 2.5.0)" name one; "takahe/0.11.0",
    "0.17.3 git-1a2b" (GoToSocial) and an unknown version get ``DEFAULT_API_VERSION``.
    """
    match = re.match(r"\s*(\d+)\.(\d+)(?:\.(\d+))?", version or "")
    if not match or int(match[1]) < 1:
        return DEFAULT_API_VERSION
    return f"{match[1]}.{match[2]}.{match[3] or 0}"


def make_client(
    *,
    base: str,
    version: str | None,
    timeout: float,
    session: requests.Session | None = None,
    access_token: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> Mastodon:
    """A Mastodon.py client that never detects the server's version itself (see above)."""
    known = api_version(version)
    api = Mastodon(
        api_base_url=base,
        request_timeout=timeout,
        session=session,
        access_token=access_token,
        client_id=client_id,
        client_secret=client_secret,
        # "throw": the default ("wait") sleeps inside the call until the limit resets.
        ratelimit_method="throw",
        user_agent="klapper",
        version_check_mode="none",
        mastodon_version=known,
    )
    # With checks off Mastodon.py keeps 1.0.0 for its own choices (v1 or v2 media upload).
    api.mastodon_major, api.mastodon_minor, api.mastodon_patch = (
        int(part) for part in known.split(".")
    )
    return api


def read_instance(
    *, session: requests.Session, base: str, token: str | None, timeout: float
) -> dict[str, Any]:
    """The instance's own description: /api/v2/instance, else (before 4.0) /api/v1/instance.

    Raises ``RefusedError`` for an error answer and ``requests.RequestException`` for no answer.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}  # locked-down servers
    # Without the trailing slash Mastodon.py adds: Takahē answers that with 404.
    answer = session.get(f"{base}/api/v2/instance", headers=headers, timeout=timeout)
    if answer.status_code in (404, 405):
        answer = session.get(f"{base}/api/v1/instance", headers=headers, timeout=timeout)
    if answer.status_code >= 400:
        raise RefusedError(answer.status_code, said(answer), answer.headers)
    try:
        body = answer.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise RefusedError(answer.status_code, "an answer that is not an instance description")
    return body


def translate(
    exc: MastodonError | ValueError,
    *,
    host: str,
    account: str,
    action: str,
    session: CountingSession,
) -> AdapterError:
    """klapper's error for one of Mastodon.py's; ``session`` holds the error answer's words and
    headers (the 429's own say until when)."""
    words, headers = session.refusal, session.refused_headers
    if isinstance(exc, MastodonRatelimitError):
        return refusal(
            status=429,
            said=words or "Too many requests",
            host=host,
            account=account,
            action=action,
            headers=headers,
        )
    if isinstance(exc, MastodonNetworkError):
        cause = type(exc.__context__).__name__ if exc.__context__ else "no answer"
        return TransientError(f"{host} did not answer ({cause})")
    if isinstance(exc, MastodonAPIError):
        # args: message, status, reason phrase, the JSON "error" (None when not JSON)
        args = exc.args
        status = args[1] if len(args) > 1 and isinstance(args[1], int) else None
        words = (
            (args[3] if len(args) > 3 and args[3] else None)
            or words
            or (args[2] if len(args) > 2 else "")
        )
        return refusal(
            status=status,
            said=str(words),
            host=host,
            account=account,
            action=action,
            headers=headers,
        )
    return PermanentError(f"{host}: the post was refused before sending: {exc}")


def said(answer: requests.Response) -> str:
    """What an error answer says: its JSON ``error``, its text, or the reason phrase."""
    return reason_of(answer.content or answer.reason, status=answer.status_code)


def refusal(
    *,
    status: int | None,
    said: str,
    host: str,
    account: str,
    action: str,
    headers: Mapping[str, str] | None = None,
) -> AdapterError:
    """klapper's error for an error answer (``said``: the server's words, or the reason)."""
    if status is None:
        return TransientError(f"{host} gave an answer that is not JSON to {action}")
    relogin = f"run `klapper login {account}`"
    if status == 403 and not token_refused(status, said):  # outside the token's scopes
        return AuthExpiredError(f"{host} refused the access token (HTTP 403: {said}); {relogin}")
    if status in (404, 405):  # 405: a server without this endpoint (e.g. batch lookup)
        return NotFoundError(f"{host}: not found (HTTP {status}: {said})")
    # 422 from Mastodon, 400 from GoToSocial and Takahē: the post itself is refused.
    return error_for(
        platform=host,
        status=status,
        action=action,
        relogin=relogin,
        headers=headers,
        reason=said,
        rate_reset=rate_reset(headers or {}),
    )


def rate_reset(headers: Mapping[str, str]) -> datetime | None:
    """When Mastodon's limit resets: ``X-RateLimit-Reset`` (ISO 8601; some servers: epoch)."""
    value = {key.lower(): text for key, text in headers.items()}.get("x-ratelimit-reset", "")
    try:
        when = (
            datetime.fromtimestamp(int(value), UTC)
            if value.isdigit()
            else datetime.fromisoformat(value.replace("Z", "+00:00"))
        )
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
