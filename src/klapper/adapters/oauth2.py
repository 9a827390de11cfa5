"""The OAuth 2.0 session LinkedIn and Google share: the stored token, refreshed by itself.

``refreshing_session`` builds a requests-oauthlib session from an account's stored secrets
(``access_token``, ``expires_at``, ``refresh_token``, ``client_id``, ``client_secret``). It
refreshes the token before a call once ``expires_at`` less ``REFRESH_MARGIN`` has passed, with the
app's credentials in the refresh request's body (both platforms want them there), and gives every
new token to ``token_updater``. ``token_secrets`` is what a token response amounts to in the
secrets store; ``kept_token`` what the session holds of it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import requests
from requests_oauthlib import OAuth2Session

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
