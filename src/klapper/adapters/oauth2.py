"""The OAuth 2.0 session LinkedIn and Google share: the stored token, refreshed by itself.

``refreshing_session`` builds a requests-oauthlib session from an account's stored secrets
(``access_token``, ``expires_at``, ``refresh_token``, ``client_id``, ``client_secret``). It
refreshes the token before a call once ``expires_at`` less ``REFRESH_MARGIN`` has passed, with the
app's credentials in the refresh request's body (both platforms want them there), and gives every
new token to ``token_updater``. ``token_secrets`` is what a token response amounts to in the
secrets store; ``kept_token`` what the session holds of it. ``OAuth2Client`` is what both
platforms' clients share: sending through that session, renewing once when a token is refused,
and the failures of the session itself as klapper's errors.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import requests
from oauthlib.oauth2 import InsecureTransportError, OAuth2Error, TokenExpiredError
from requests_oauthlib import OAuth2Session

from klapper.adapters.base import AuthExpiredError, PermanentError, TransientError
from klapper.adapters.http_errors import no_answer, renew_once
from klapper.config.expiry import parse_expiry

# requests-oauthlib logs tokens, refresh tokens and the client secret at DEBUG level.
for _chatty in ("requests_oauthlib", "oauthlib"):
    logging.getLogger(_chatty).setLevel(logging.WARNING)

#: refresh a minute before the platform's expiry, so a token never runs out during a call
REFRESH_MARGIN = 60.0


class ErrorAnswer(Exception):
    """An error answer, before it is translated (``renew_once`` looks at its status)."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def token_refused(exc: Exception) -> bool:
    """For ``renew_once``: the platform answered 401 (the access token is no longer good)."""
    return isinstance(exc, ErrorAnswer) and exc.response.status_code == 401


def format_time(epoch: float) -> str:
    """Epoch seconds as the ISO 8601 UTC string the secrets store keeps."""
    return datetime.fromtimestamp(int(epoch), tz=UTC).isoformat()


def token_secrets(token: Mapping[str, Any]) -> dict[str, str]:
    """The secret entries a token response amounts to (absent fields are left out)."""
    now = time.time()
    out = {"access_token": str(token["access_token"])}
    if token.get("expires_at") or token.get("expires_in"):
        out["expires_at"] = format_time(
            float(token.get("expires_at") or now + float(token["expires_in"]))
        )
    if token.get("refresh_token"):
        out["refresh_token"] = str(token["refresh_token"])
    if token.get("refresh_token_expires_in"):
        out["refresh_token_expires_at"] = format_time(
            now + float(token["refresh_token_expires_in"])
        )
    return out


def kept_token(token: Mapping[str, Any]) -> dict[str, Any]:
    """``token`` as the session keeps it: expiring ``REFRESH_MARGIN`` early."""
    stored = dict(token)
    if "expires_at" in stored:
        stored["expires_at"] = float(stored["expires_at"]) - REFRESH_MARGIN
    return stored


def can_refresh(secrets: Mapping[str, str]) -> bool:
    """Whether the stored secrets hold a refresh token and the app's credentials to use it."""
    return bool(
        secrets.get("refresh_token") and secrets.get("client_id") and secrets.get("client_secret")
    )


def refreshing_session(
    *,
    secrets: Mapping[str, str],
    token_url: str,
    token_updater: Callable[[dict[str, Any]], None],
) -> OAuth2Session:
    """A session holding the stored token, refreshing it by itself where it can."""
    client_id = secrets.get("client_id", "")
    token: dict[str, Any] = {
        "access_token": secrets.get("access_token", ""),
        "token_type": "Bearer",
    }
    expires_at = parse_expiry(secrets.get("expires_at"))
    if expires_at is not None:
        token["expires_at"] = expires_at.timestamp() - REFRESH_MARGIN
    if secrets.get("refresh_token"):
        token["refresh_token"] = secrets["refresh_token"]
    refreshable = can_refresh(secrets)
    return OAuth2Session(
        client_id=client_id or None,
        token=token,
        auto_refresh_url=token_url if refreshable else None,
        auto_refresh_kwargs=(
            {"client_id": client_id, "client_secret": secrets.get("client_secret", "")}
            if refreshable
            else {}
        ),
        token_updater=token_updater,
    )


class OAuth2Client:
    """An authorised session for one account. Subclasses name the ``platform``, say why an
    expired token cannot be renewed (``no_refresh``) and translate error answers themselves."""

    platform: ClassVar[str]
    #: after "the <platform> access token has expired": why klapper could not renew it
    no_refresh: ClassVar[str]

    def __init__(
        self,
        *,
        account: str,
        secrets: Mapping[str, str],
        api_base: str,
        token_url: str,
        timeout: float,
        on_token: Callable[[dict[str, str]], None],
    ) -> None:
        self.relogin = f"run `klapper login {account}` again"
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout
        self.sent = 0
        self._on_token = on_token
        self._token_url = token_url
        self._refreshable = can_refresh(secrets)
        self.session = refreshing_session(
            secrets=secrets, token_url=token_url, token_updater=self._store
        )

    def close(self) -> None:
        self.session.close()

    def renewing(self, send: Callable[[], requests.Response], *, what: str) -> requests.Response:
        """``send()`` once more after renewing the token if the platform refused it; an error
        answer that remains is raised as ``ErrorAnswer`` for the subclass to translate."""

        def checked() -> requests.Response:
            response = send()
            if response.status_code >= 400:
                raise ErrorAnswer(response)
            return response

        return renew_once(checked, renew=lambda: self._refresh_for(what), refused=token_refused)

    def refresh(self, *, what: str) -> None:
        """Exchange the refresh token for a new access token and persist both."""
        try:
            token = self.session.refresh_token(self._token_url, timeout=self.timeout)
        except OAuth2Error as exc:
            raise self._refused(exc, what=what) from exc
        except requests.Timeout as exc:
            raise TransientError(
                f"{self.platform}'s token endpoint did not answer while trying to {what}"
            ) from exc
        except requests.RequestException as exc:
            raise TransientError(
                f"cannot reach {self.platform}'s token endpoint to {what}"
            ) from exc
        self._store(token)

    def request(self, method: str, url: str, *, what: str, **options: Any) -> requests.Response:
        """One request through the session; its own failures become klapper's errors."""
        self.sent += 1
        try:
            return self.session.request(method, url, timeout=self.timeout, **options)
        except InsecureTransportError as exc:
            raise PermanentError(
                f"refusing to send the {self.platform} token over plain http"
                f" ({url.split('?')[0]}); the account's api_base must be an https URL"
            ) from exc
        except TokenExpiredError as exc:
            raise AuthExpiredError(
                f"the {self.platform} access token has expired ({self.no_refresh}), so klapper"
                f" could not {what}; {self.relogin}"
            ) from exc
        except OAuth2Error as exc:  # the automatic refresh before the call was refused
            raise self._refused(exc, what=what) from exc
        except requests.RequestException as exc:
            raise no_answer(exc, platform=self.platform, action=what, timeout=self.timeout) from exc

    def kept(self, token: Mapping[str, Any]) -> Mapping[str, Any]:
        """What of a new token is kept; a platform that sends no new refresh token adds the old."""
        return token

    def _refresh_for(self, what: str) -> bool:
        if not self._refreshable:
            return False
        self.refresh(what=what)
        return True

    def _refused(self, exc: OAuth2Error, *, what: str) -> AuthExpiredError:
        return AuthExpiredError(
            f"{self.platform} refused to refresh the access token while trying to"
            f" {what} ({exc.error}); {self.relogin}"
        )

    def _store(self, token: Mapping[str, Any]) -> None:
        kept = self.kept(token)
        self.session.token = kept_token(kept)
        self._on_token(token_secrets(kept))
