"""`klapper login` for Google Business: OAuth 2.0 authorization code with a refresh token.

Before the first login: a Google Cloud project whose Business Profile API access Google approved,
an OAuth client of type "Desktop app" (Desktop clients may redirect to any 127.0.0.1 port), and
the consent screen with the scope ``business.manage``. The flow asks for the client id and
secret (kept from an earlier login), opens Google's consent page with ``access_type=offline``
and ``prompt=consent`` (so Google issues a refresh token every time), receives the code on the
local listener and exchanges it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from oauthlib.oauth2 import OAuth2Error
from requests_oauthlib import OAuth2Session

from klapper.adapters.google_business import GoogleBusinessSettings
from klapper.adapters.google_business.http import OAUTH_BASE, TOKEN_PATH
from klapper.adapters.oauth2 import token_secrets
from klapper.login import LoginError, LoginUI, show_consent
from klapper.login.redirect import DEFAULT_PORT, RedirectError, RedirectListener

AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/v2/auth"
SCOPE = "https://www.googleapis.com/auth/business.manage"


def login(
    *,
    name: str,
    account: GoogleBusinessSettings,
    existing: Mapping[str, str],
    ui: LoginUI,
    authorize_url: str = AUTHORIZE_URL,
    oauth_base: str = OAUTH_BASE,
    port: int = DEFAULT_PORT,
    timeout: float = 300.0,
) -> dict[str, str]:
    """Log ``name`` in to Google and return its complete new credentials."""
    client_id, client_secret = _app_credentials(existing, ui)
    try:
        with RedirectListener(port=port) as listener:
            session = OAuth2Session(
                client_id, redirect_uri=listener.redirect_uri, scope=[SCOPE], state=listener.state
            )
            url, _ = session.authorization_url(
                authorize_url, access_type="offline", prompt="consent"
            )
            show_consent(ui, url, asking=f"Allow klapper to post for {account.location} on Google")
            code = listener.wait(timeout=timeout)
            token = _exchange(session, oauth_base, code=code, client_secret=client_secret)
    except RedirectError as exc:
        raise LoginError(str(exc)) from exc
    if not token.get("access_token"):
        raise LoginError("Google answered without an access token; log in again")
    if not token.get("refresh_token"):
        raise LoginError(
            "Google issued no refresh token; remove klapper's access at"
            " https://myaccount.google.com/permissions and log in again"
        )
    ui.show("Logged in to Google; the access token is refreshed automatically.")
    return {"client_id": client_id, "client_secret": client_secret, **token_secrets(token)}


def _app_credentials(existing: Mapping[str, str], ui: LoginUI) -> tuple[str, str]:
    client_id = existing.get("client_id", "")
    client_secret = existing.get("client_secret", "")
    if client_id and client_secret:
        return client_id, client_secret
    ui.show(
        'klapper needs your Google Cloud project\'s OAuth client (type "Desktop app") with'
        " the Business Profile API access approved; see docs/google-business.md."
    )
    client_id = ui.prompt("Google OAuth Client ID").strip()
    client_secret = ui.prompt("Google OAuth Client Secret", secret=True).strip()
    if not (client_id and client_secret):
        raise LoginError(
            "both the client id and the client secret are needed; find them in the"
            " Cloud console under APIs & Services > Credentials"
        )
    return client_id, client_secret


def _exchange(
    session: OAuth2Session, oauth_base: str, *, code: str, client_secret: str
) -> dict[str, Any]:
    try:
        return dict(
            session.fetch_token(
                oauth_base.rstrip("/") + TOKEN_PATH,
                code=code,
                client_secret=client_secret,
                include_client_id=True,
                timeout=30,
            )
        )
    except OAuth2Error as exc:
        raise LoginError(
            f"Google refused the authorization code ({exc.error}); check the"
            " client secret, then log in again"
        ) from exc
    except requests.RequestException as exc:
        raise LoginError(
            f"cannot reach Google to finish the login ({type(exc).__name__});"
            " check the connection and try again"
        ) from exc
