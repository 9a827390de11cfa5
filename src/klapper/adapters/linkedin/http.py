"""LinkedIn's REST conventions for the adapter: the OAuth 2.0 session, Rest.li URLs, errors.

Every call goes through ``LinkedInClient.call``, which adds the versioned-API headers, refreshes
the token once when LinkedIn answers 401 (requests-oauthlib refreshes only when ``expires_at`` has
passed), and turns every failure into klapper's error tree: what only LinkedIn means here (403 a
missing permission, 426 a retired API version, a 429 without Retry-After lasting until its daily
limits reset at midnight UTC), the rest through ``http_errors.error_for``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import requests

from klapper.adapters.base import (
    AdapterError,
    AuthExpiredError,
    PermanentError,
)
from klapper.adapters.http_errors import error_for, reason_of
from klapper.adapters.oauth2 import ErrorAnswer, OAuth2Client

API_BASE = "https://api.linkedin.com"
OAUTH_BASE = "https://www.linkedin.com"
TOKEN_PATH = "/oauth/v2/accessToken"
#: LinkedIn-Version sent with every /rest call. LinkedIn retires a version about a year after
#: its release (answering 426); an account's ``api_version`` setting overrides this.
API_VERSION = "202609"
#: permissions LinkedIn grants only to approved partner apps, and what that means for the user
RESTRICTED = {
    "r_member_social": (
        "LinkedIn grants it only to approved partner apps, so klapper cannot read a person's"
        " posts back: look at the profile to see whether the post went out"
    ),
}

Query = Sequence[tuple[str, "str | Sequence[str]"]]


def encode(value: str) -> str:
    """A URN (or any value) as one Rest.li URL component: every reserved character escaped."""
    return quote(value, safe="")


def query_string(params: Query) -> str:
    """Rest.li 2.0 query: scalars percent-encoded, sequences as ``List(a,b)`` with bare commas."""
    parts = []
    for key, value in params:
        if isinstance(value, str):
            parts.append(f"{key}={encode(value)}")
        else:
            parts.append(f"{key}=List({','.join(encode(item) for item in value)})")
    return "&".join(parts)


def _next_midnight_utc() -> datetime:
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)


def _message(response: requests.Response) -> str:
    """LinkedIn's own reason from an error body ({"status", "message", "serviceErrorCode"})."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):  # a gateway's page: its title, or the status
        return reason_of(response.content, status=response.status_code)
    message = body.get("message") or body.get("error_description") or response.reason
    code = body.get("serviceErrorCode")
    return f"{message} (HTTP {response.status_code}{f', code {code}' if code else ''})"


class LinkedInClient(OAuth2Client):
    """An authorised LinkedIn session for one account; ``call`` raises klapper's errors only."""

    platform = "LinkedIn"
    no_refresh = "LinkedIn issues no refresh token to this app"

    def __init__(
        self,
        *,
        account: str,
        secrets: Mapping[str, str],
        api_base: str,
        oauth_base: str,
        version: str,
        timeout: float,
        on_token: Callable[[dict[str, str]], None],
    ) -> None:
        super().__init__(
            account=account,
            secrets=secrets,
            api_base=api_base,
            token_url=oauth_base.rstrip("/") + TOKEN_PATH,
            timeout=timeout,
            on_token=on_token,
        )
        self.version = version

    def call(
        self,
        method: str,
        path: str,
        *,
        query: Query = (),
        body: Any = None,
        data: bytes | None = None,
        permission: str,
        what: str,
        absolute: bool = False,
    ) -> requests.Response:
        """One API call; ``permission`` is named when LinkedIn answers 403, ``what`` in errors.

        ``absolute`` marks ``path`` as a full URL (the image upload URL LinkedIn hands out).
        """
        url = path if absolute else self.api_base + path
        if query:
            url += "?" + query_string(query)
        headers = {"LinkedIn-Version": self.version, "X-Restli-Protocol-Version": "2.0.0"}
        payload: bytes | None = data
        if body is not None:
            headers["Content-Type"] = "application/json"
            payload = json.dumps(body, ensure_ascii=False).encode()
        elif data is not None:
            headers["Content-Type"] = "application/octet-stream"
        try:
            # LinkedIn said the token is bad: refresh once, try again.
            return self.renewing(
                lambda: self.request(method, url, what=what, headers=headers, data=payload),
                what=what,
            )
        except ErrorAnswer as failed:
            raise self._error(failed.response, permission=permission, what=what) from None

    def _error(self, response: requests.Response, *, permission: str, what: str) -> AdapterError:
        status = response.status_code
        reason = _message(response)
        if status == 403:
            remedy = RESTRICTED.get(permission) or (
                f"the LinkedIn app needs the product that grants it; then {self.relogin}"
            )
            return AuthExpiredError(
                f"LinkedIn denied access while trying to {what}: {reason}; the token lacks the"
                f" {permission} permission ({remedy})",
                missing_access=permission,
            )
        if status == 426:
            return PermanentError(
                f"LinkedIn no longer serves API version {self.version}: {reason}; LinkedIn"
                " retires each version about a year after its release, so update klapper"
            )
        # LinkedIn sends no reset header: its app and member limits are per UTC day.
        daily = None if response.headers.get("Retry-After") else _next_midnight_utc()
        return error_for(
            platform="LinkedIn",
            status=status,
            action=what,
            relogin=self.relogin,
            headers=response.headers,
            reason=reason,
            rate_reset=daily,
        )
