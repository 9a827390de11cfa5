"""Google's API conventions for the adapter: the OAuth 2.0 session with refresh, and errors.

Every call goes through ``GoogleClient.call``: it refreshes the access token once when Google
answers 401 UNAUTHENTICATED (access tokens last an hour; requests-oauthlib also refreshes before a
call once ``expires_at`` has passed) and turns failures into klapper's errors. What only Google
means is handled here: a project whose Business Profile API access is not approved yet (every
quota is 0, so Google answers 429 with ``quota_limit_value`` 0, or 403 when the API is not
enabled) pauses the account with what to do; the rest goes through ``http_errors.error_for``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import requests

from klapper.adapters.base import AdapterError, AuthExpiredError, TransientError
from klapper.adapters.http_errors import error_for, reason_of
from klapper.adapters.oauth2 import ErrorAnswer, OAuth2Client

API_BASE = "https://mybusiness.googleapis.com"
OAUTH_BASE = "https://oauth2.googleapis.com"
TOKEN_PATH = "/token"
NOT_APPROVED = (
    "Google has not approved this Cloud project's Business Profile API access yet (its quota is"
    " 0); apply once with the access form (docs/google-business.md) and try again when Google"
    " has confirmed"
)


def error_body(response: requests.Response) -> dict[str, Any]:
    """Google's ``{"error": {"code", "message", "status", "details"}}``, or {} for others."""
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _quota_zero(error: Mapping[str, Any]) -> bool:
    for detail in error.get("details") or []:
        metadata = detail.get("metadata") or {} if isinstance(detail, dict) else {}
        if str(metadata.get("quota_limit_value", "")) == "0":
            return True
    return False


def _not_enabled(error: Mapping[str, Any]) -> bool:
    reasons = {str(d.get("reason")) for d in error.get("details") or [] if isinstance(d, dict)}
    return "SERVICE_DISABLED" in reasons or "has not been used in project" in str(
        error.get("message", "")
    )


class GoogleClient(OAuth2Client):
    """An authorised session for one account; ``call`` raises klapper's errors only."""

    platform = "Google"
    no_refresh = "there is no refresh token"

    def __init__(
        self,
        *,
        account: str,
        secrets: Mapping[str, str],
        api_base: str,
        oauth_base: str,
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
        self._refresh_token = secrets.get("refresh_token", "")

    def call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One call to ``/v4/{path}``; its JSON answer, or one of klapper's errors."""
        url = f"{self.api_base}/v4/{path}"
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        try:
            response = self.renewing(
                lambda: self.request(
                    method, url, what=what, data=data, params=params, headers=headers
                ),
                what=what,
            )
        except ErrorAnswer as failed:
            raise self._error(failed.response, what=what) from None
        try:
            answer = response.json() if response.content else {}
        except ValueError:
            raise TransientError(
                f"Google answered {what} with something that is not JSON"
            ) from None
        return answer if isinstance(answer, dict) else {}

    def kept(self, token: Mapping[str, Any]) -> Mapping[str, Any]:
        # Google sends no new refresh token on a refresh: the one from the login stays valid.
        return {"refresh_token": self._refresh_token, **token}

    def _error(self, response: requests.Response, *, what: str) -> AdapterError:
        status = response.status_code
        error = error_body(response)
        said = str(error.get("message") or "") or reason_of(response.content, status=status)
        if error.get("status"):
            said = f"{said} ({error['status']})"
        if status in (403, 429) and (_quota_zero(error) or _not_enabled(error)):
            return AuthExpiredError(
                f"Google refused to {what}: {NOT_APPROVED} ({said})",
                missing_access="Business Profile API access",
            )
        if status == 403:
            return AuthExpiredError(
                f"Google denied access while trying to {what}: {said}; the person who logged in"
                f" must manage this profile (owner or manager), then {self.relogin}",
                missing_access="business.manage",
            )
        return error_for(
            platform="Google",
            status=status,
            action=what,
            relogin=self.relogin,
            headers=response.headers,
            reason=said,
        )
