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
from oauthlib.oauth2 import InsecureTransportError, OAuth2Error, TokenExpiredError

from klapper.adapters.base import (
    AdapterError,
    AuthExpiredError,
    PermanentError,
    TransientError,
)
from klapper.adapters.http_errors import error_for, no_answer, reason_of, renew_once
from klapper.adapters.oauth2 import (
    ErrorAnswer,
    can_refresh,
    kept_token,
    refreshing_session,
    token_refused,
    token_secrets,
)

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


class LinkedInClient:
    """An authorised LinkedIn session for one account; ``call`` raises klapper's errors only."""

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
        self.relogin = f"run `klapper login {account}` again"
        self.api_base = api_base.rstrip("/")
        self.version = version
        self.timeout = timeout
        self._on_token = on_token
        self._token_url = oauth_base.rstrip("/") + TOKEN_PATH
        self._refreshable = can_refresh(secrets)
        self.session = refreshing_session(
            secrets=secrets, token_url=self._token_url, token_updater=self._store
        )

    def close(self) -> None:
        self.session.close()

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

        def send() -> requests.Response:
            response = self._send(method, url, headers=headers, data=payload, what=what)
            if response.status_code >= 400:
                raise ErrorAnswer(response)
            return response

        try:
            # LinkedIn said the token is bad: refresh once, try again.
            return renew_once(send, renew=lambda: self._refresh_for(what), refused=token_refused)
        except ErrorAnswer as failed:
            raise self._error(failed.response, permission=permission, what=what) from None

    def _refresh_for(self, what: str) -> bool:
        if not self._refreshable:
            return False
        self.refresh(what=what)
        return True

    def refresh(self, *, what: str) -> None:
        """Exchange the refresh token for a new access token and persist both."""
        try:
            token = self.session.refresh_token(self._token_url, timeout=self.timeout)
        except OAuth2Error as exc:
            raise self._refresh_refused(exc, what=what) from exc
        except requests.Timeout as exc:
            raise TransientError(
                f"LinkedIn's token endpoint did not answer while trying to {what}"
            ) from exc
        except requests.RequestException as exc:
            raise TransientError(f"cannot reach LinkedIn's token endpoint to {what}") from exc
        self._store(token)

    def _refresh_refused(self, exc: OAuth2Error, *, what: str) -> AuthExpiredError:
        return AuthExpiredError(
            f"LinkedIn refused to refresh the access token while trying to"
            f" {what} ({exc.error}); {self.relogin}"
        )

    def _store(self, token: Mapping[str, Any]) -> None:
        self.session.token = kept_token(token)
        self._on_token(token_secrets(token))

    def _send(
        self, method: str, url: str, *, headers: dict[str, str], data: bytes | None, what: str
    ) -> requests.Response:
        try:
            return self.session.request(
                method, url, headers=headers, data=data, timeout=self.timeout
            )
        except InsecureTransportError as exc:
            raise PermanentError(
                f"refusing to send the LinkedIn token over plain http ({url.split('?')[0]});"
                " the account's api_base must be an https URL"
            ) from exc
        except TokenExpiredError as exc:
            raise AuthExpiredError(
                f"the LinkedIn access token has expired (LinkedIn issues no refresh token to"
                f" this app), so klapper could not {what}; {self.relogin}"
            ) from exc
        except OAuth2Error as exc:  # the automatic refresh before the call was refused
            raise self._refresh_refused(exc, what=what) from exc
        except requests.RequestException as exc:
            raise no_answer(exc, platform="LinkedIn", action=what, timeout=self.timeout) from exc

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
