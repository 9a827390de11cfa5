"""`klapper login linkedin`: OAuth 2.0 authorization code through a redirect to 127.0.0.1.

Before the first login, create an app at https://www.linkedin.com/developers/apps, add the
products "Sign In with LinkedIn using OpenID Connect" and "Share on LinkedIn" (for a page also
the "Community Management API"), and register the redirect URL http://127.0.0.1:8914/callback.
The flow asks for the app's client id and secret (kept from an earlier login), opens the consent
page, receives the code on the local listener, exchanges it for a token (about 60 days; a refresh
token too where LinkedIn grants the app one) and reads the member id of who logged in (``user_id``;
for a person account also its URN ``author``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import requests
from oauthlib.oauth2 import OAuth2Error
from requests_oauthlib import OAuth2Session

from klapper.adapters.identity import checked
from klapper.adapters.linkedin import LinkedInSettings
from klapper.adapters.linkedin.http import API_BASE, OAUTH_BASE, TOKEN_PATH
from klapper.adapters.oauth2 import token_secrets
from klapper.login import LoginError, LoginUI, show_consent
from klapper.login.redirect import DEFAULT_PATH, DEFAULT_PORT, RedirectError, RedirectListener

AUTHORIZE_PATH = "/oauth/v2/authorization"
PERSON_SCOPES = ("openid", "profile", "w_member_social")
PAGE_SCOPES = ("openid", "profile", "w_organization_social", "r_organization_social")


def scopes_for(author: str | None) -> tuple[str, ...]:
    """The permissions to ask for: a page needs the organization scopes, a person the member's."""
    return PAGE_SCOPES if (author or "").startswith("urn:li:organization:") else PERSON_SCOPES


def login(
    *,
    name: str,
    account: LinkedInSettings,
    existing: Mapping[str, str],
    ui: LoginUI,
    oauth_base: str = OAUTH_BASE,
    api_base: str = API_BASE,
    port: int = DEFAULT_PORT,
    timeout: float = 300.0,
) -> dict[str, str]:
    """Log ``name`` in to LinkedIn and return its complete new credentials."""
    client_id, client_secret = _app_credentials(existing, ui, port=port)
    scopes = scopes_for(account.author)
    try:
        with RedirectListener(port=port) as listener:
            session = OAuth2Session(
                client_id,
                redirect_uri=listener.redirect_uri,
                scope=list(scopes),
                state=listener.state,
            )
            session.register_compliance_hook("access_token_response", _space_separated_scope)
            url, _ = session.authorization_url(oauth_base.rstrip("/") + AUTHORIZE_PATH)
            show_consent(
                ui, url, asking=f"Allow klapper to post as {account.author or 'you'} on LinkedIn"
            )
            code = listener.wait(timeout=timeout)
            token = _exchange(session, oauth_base, code=code, client_secret=client_secret)
    except RedirectError as exc:
        raise LoginError(str(exc)) from exc
    _check_granted(token, scopes)
    credentials = {"client_id": client_id, "client_secret": client_secret, **token_secrets(token)}
    person = _person_urn(session, api_base)
    # Whose the token is (for a page: the admin who logged in), see adapters.identity.
    credentials.update(
        checked(credentials, credential="access_token", user_id=person.rsplit(":", 1)[1])
    )
    if not (account.author or "").startswith("urn:li:organization:"):
        credentials["author"] = person
        if account.author and account.author != person:
            ui.show(
                f"Note: you logged in as {person}, but klapper.yaml names {account.author}"
                f" for account {name!r}; posts go to the author in klapper.yaml only if that"
                " is you."
            )
        elif not account.author:
            ui.show(f"Add `author: {person}` to account {name!r} in klapper.yaml.")
    days = int(token.get("expires_in", 0)) // 86400
    renew = (
        "refreshed automatically"
        if token.get("refresh_token")
        else ("run `klapper login` again before then; `klapper status` warns 7 days ahead")
    )
    ui.show(f"Logged in to LinkedIn; the token lasts {days} days ({renew}).")
    return credentials


def _app_credentials(existing: Mapping[str, str], ui: LoginUI, *, port: int) -> tuple[str, str]:
    client_id = existing.get("client_id", "")
    client_secret = existing.get("client_secret", "")
    if client_id and client_secret:
        return client_id, client_secret
    ui.show(
        "klapper needs your LinkedIn app (https://www.linkedin.com/developers/apps) with the"
        ' products "Sign In with LinkedIn using OpenID Connect" and "Share on LinkedIn", and'
        f" the redirect URL http://127.0.0.1:{port or DEFAULT_PORT}{DEFAULT_PATH}."
    )
    client_id = ui.prompt("LinkedIn app Client ID").strip()
    client_secret = ui.prompt("LinkedIn app Client Secret", secret=True).strip()
    if not (client_id and client_secret):
        raise LoginError(
            "both the client id and the client secret of the LinkedIn app are"
            " needed; find them on the app's Auth tab"
        )
    return client_id, client_secret


def _space_separated_scope(response: requests.Response) -> requests.Response:
    """LinkedIn lists granted scopes with commas; OAuth 2.0 (and oauthlib) expects spaces."""
    try:
        body = response.json()
    except ValueError:
        return response
    if isinstance(body, dict) and isinstance(body.get("scope"), str):
        body["scope"] = " ".join(s for s in body["scope"].replace(",", " ").split())
        response._content = json.dumps(body).encode()  # noqa: SLF001 - requests' own body slot
    return response


def _exchange(
    session: OAuth2Session, oauth_base: str, *, code: str, client_secret: str
) -> dict[str, Any]:
    try:
        # LinkedIn wants the app's credentials in the form body, not as Basic auth.
        return dict(
            session.fetch_token(
                oauth_base.rstrip("/") + TOKEN_PATH,
                code=code,
                client_secret=client_secret,
                include_client_id=True,
                timeout=30,
            )
        )
    except Warning as changed:  # oauthlib: granted scopes differ from the requested ones
        return dict(getattr(changed, "token", {}) or {})
    except OAuth2Error as exc:
        raise LoginError(
            f"LinkedIn refused the authorization code ({exc.error}: {exc.description});"
            " check the app's client secret and redirect URL, then log in again"
        ) from exc
    except requests.RequestException as exc:
        raise LoginError(
            f"cannot reach LinkedIn to finish the login ({type(exc).__name__});"
            " check the connection and try again"
        ) from exc


def _check_granted(token: Mapping[str, Any], wanted: tuple[str, ...]) -> None:
    if not token.get("access_token"):
        raise LoginError("LinkedIn answered without an access token; log in again")
    granted = token.get("scope")
    granted = set(granted.split() if isinstance(granted, str) else granted or wanted)
    missing = [scope for scope in wanted if scope not in granted]
    if missing:
        raise LoginError(
            f"LinkedIn did not grant {', '.join(missing)}; add the product that provides it"
            " to the LinkedIn app, then log in again"
        )


def _person_urn(session: OAuth2Session, api_base: str) -> str:
    try:
        answer = session.get(api_base.rstrip("/") + "/v2/userinfo", timeout=30)
    except requests.RequestException as exc:
        raise LoginError(
            f"cannot read your LinkedIn member id ({type(exc).__name__}); log in again"
        ) from exc
    if answer.status_code != 200 or "sub" not in answer.json():
        raise LoginError(
            f"LinkedIn did not tell who logged in (HTTP {answer.status_code}); the app needs"
            ' the product "Sign In with LinkedIn using OpenID Connect"'
        )
    return f"urn:li:person:{answer.json()['sub']}"
