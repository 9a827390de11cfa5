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
from oauthlib.oauth2 import InsecureTransportError, OAuth2Error, TokenExpiredError

from klapper.adapters.base import AdapterError, AuthExpiredError, PermanentError, TransientError
from klapper.adapters.http_errors import error_for, no_answer, reason_of, renew_once
from klapper.adapters.oauth2 import (
    ErrorAnswer,
    can_refresh,
    kept_token,
    refreshing_session,
    token_refused,
    token_secrets,
)

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


class GoogleClient:
    """An authorised session for one account; ``call`` raises klapper's errors only."""

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
        self.relogin = f"run `klapper login {account}` again"
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout
        self.sent = 0
        self._on_token = on_token
        self._token_url = oauth_base.rstrip("/") + TOKEN_PATH
        self._refresh_token = secrets.get("refresh_token", "")
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
        what: str,
        body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One call to ``/v4/{path}``; its JSON answer, or one of klapper's errors."""
        url = f"{self.api_base}/v4/{path}"
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()

        def send() -> requests.Response:
            response = self._send(method, url, data=data, params=params, what=what)
            if response.status_code >= 400:
                raise ErrorAnswer(response)
            return response

        try:
            response = renew_once(
                send, renew=lambda: self._refresh_for(what), refused=token_refused
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

    def _refresh_for(self, what: str) -> bool:
        if not self._refreshable:
            return False
        try:
            token = self.session.refresh_token(self._token_url, timeout=self.timeout)
        except OAuth2Error as exc:
            raise self._refused(exc, what=what) from exc
        except requests.RequestException as exc:
            raise TransientError(f"cannot reach Google's token endpoint to {what}") from exc
        self._store(token)
        return True

    def _refused(self, exc: OAuth2Error, *, what: str) -> AuthExpiredError:
        return AuthExpiredError(
            f"Google refused to refresh the access token while trying to"
            f" {what} ({exc.error}); {self.relogin}"
        )

    def _store(self, token: Mapping[str, Any]) -> None:
        stored = dict(token)
        # Google sends no new refresh token on a refresh: the one from the login stays valid.
        stored.setdefault("refresh_token", self._refresh_token)
        self.session.token = kept_token(stored)
        self._on_token(token_secrets(stored))

    def _send(
        self,
        method: str,
        url: str,
        *,
        data: bytes | None,
        params: Mapping[str, str] | None,
        what: str,
    ) -> requests.Response:
        self.sent += 1
        headers = {"Content-Type": "application/json"} if data is not None else {}
        try:
            return self.session.request(
                method, url, data=data, params=params, headers=headers, timeout=self.timeout
            )
        except InsecureTransportError as exc:
            raise PermanentError(
                "refusing to send the Google token over plain http; the"
                " account's api_base must be an https URL"
            ) from exc
        except TokenExpiredError as exc:
            raise AuthExpiredError(
                f"the Google access token has expired and there is no"
                f" refresh token, so klapper could not {what};"
                f" {self.relogin}"
            ) from exc
        except OAuth2Error as exc:
            raise self._refused(exc, what=what) from exc
        except requests.RequestException as exc:
            raise no_answer(exc, platform="Google", action=what, timeout=self.timeout) from exc

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
