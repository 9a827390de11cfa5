"""`klapper login x`: OAuth 2.0 with PKCE through a redirect to 127.0.0.1, or OAuth 1.0a keys.

Before the first login, create an App at developer.x.com, open "User authentication settings",
allow "Read and write", pick "Native App" (no client secret) or "Web App" (with one), and enter
http://127.0.0.1:8914/callback as the callback URI. The browser login needs a browser on the
machine running klapper; on a server, forward the port first: ``ssh -L 8914:127.0.0.1:8914``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import requests
from oauthlib.oauth2 import OAuth2Error
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

from klapper.adapters.base import AdapterError
from klapper.adapters.identity import checked
from klapper.adapters.x import OAUTH1_KEYS, XSettings
from klapper.adapters.x.adapter import XAdapter
from klapper.adapters.x.auth import AUTHORIZE_URL, SCOPES, TOKEN_PATH
from klapper.adapters.x.http import API_BASE, TWEEPY_HOST, quiet_library_debug_logs
from klapper.login import LoginError, LoginUI
from klapper.login.redirect import DEFAULT_PORT, RedirectError, RedirectListener

Method = Literal["oauth2", "oauth1"]
_OAUTH1_PROMPTS = {
    "consumer_key": ("API Key (the App's consumer key)", False),
    "consumer_secret": ("API Key Secret", True),
    "access_token": ("Access Token (of the account that posts)", False),
    "access_token_secret": ("Access Token Secret", True),
}


def login(
    *,
    name: str,
    account: XSettings,
    existing: Mapping[str, str],
    ui: LoginUI,
    method: Method | None = None,
    port: int = DEFAULT_PORT,
    timeout: float = 300.0,
    transport: requests.adapters.BaseAdapter | None = None,
) -> dict[str, str]:
    """Log ``name`` in to X and return its new credentials (plus its username and user id).

    ``method`` skips the question which way to log in; ``port`` is the redirect listener's
    (it must match the App's callback URI); ``transport`` carries all traffic to X (a proxy).
    """
    quiet_library_debug_logs()
    chosen = method or _ask_method(ui, existing)
    if chosen == "oauth1":
        secrets = {
            key: _ask(ui, text, secret=hidden) for key, (text, hidden) in _OAUTH1_PROMPTS.items()
        }
    else:
        secrets = _oauth2(existing=existing, ui=ui, port=port, timeout=timeout, transport=transport)
    me = _whoami(name=name, account=account, secrets=secrets, transport=transport)
    ui.show(f"Logged in to X as @{me['username']}.")
    # Whose the token is, so klapper never uses it for another account (adapters.identity).
    return {
        **secrets,
        **checked(
            secrets, credential="access_token", user_id=str(me["id"]), username=str(me["username"])
        ),
    }


def _ask_method(ui: LoginUI, existing: Mapping[str, str]) -> Method:
    default = "2" if all(existing.get(key) for key in OAUTH1_KEYS) else "1"
    answer = (
        ui.prompt(
            "How should klapper sign in to X? 1 = in the browser (OAuth 2.0, recommended),"
            f" 2 = paste the App's OAuth 1.0a keys [{default}]"
        ).strip()
        or default
    )
    if answer not in ("1", "2"):
        raise LoginError(f"{answer!r} is not a choice; run the login again and answer 1 or 2")
    return "oauth2" if answer == "1" else "oauth1"


def _ask(ui: LoginUI, text: str, *, secret: bool = False) -> str:
    value = ui.prompt(text, secret=secret).strip()
    if not value:
        raise LoginError(f"no {text.split(' (')[0]} given; run the login again with it at hand")
    return value


def _oauth2(
    *,
    existing: Mapping[str, str],
    ui: LoginUI,
    port: int,
    timeout: float,
    transport: requests.adapters.BaseAdapter | None,
) -> dict[str, str]:
    client_id = existing.get("client_id") or _ask(
        ui, "OAuth 2.0 Client ID (developer.x.com -> your App -> Keys and tokens)"
    )
    if existing.get("client_id"):
        client_secret = existing.get("client_secret", "")
    else:
        client_secret = ui.prompt(
            "OAuth 2.0 Client Secret (leave empty for a Native App)", secret=True
        ).strip()
    with RedirectListener(port=port) as listener:
        session = OAuth2Session(
            client_id, redirect_uri=listener.redirect_uri, scope=list(SCOPES), pkce="S256"
        )
        if transport is not None:
            session.mount(API_BASE, transport)
        url, _ = session.authorization_url(AUTHORIZE_URL, state=listener.state)
        ui.show(f"Allow klapper to post for you on X:\n  {url}")
        if not ui.open_url(url):
            ui.show(
                f"Open the address above in a browser on this machine (waiting {timeout:.0f} s);"
                f" on a server, forward the port first: ssh -L {port}:127.0.0.1:{port} ..."
            )
        try:
            code = listener.wait(timeout=timeout)
        except RedirectError as exc:
            raise LoginError(str(exc)) from exc
        try:
            token = session.fetch_token(
                API_BASE + TOKEN_PATH,
                code=code,
                timeout=30,
                # Confidential clients authenticate with Basic auth; public ones name client_id.
                auth=HTTPBasicAuth(client_id, client_secret) if client_secret else None,
                include_client_id=not client_secret,
            )
        except OAuth2Error as exc:
            raise LoginError(
                f"X refused the authorization ({exc.error}: {exc.description or 'no reason'});"
                " check the App's Client ID, secret and callback URI, then log in again"
            ) from exc
        except requests.RequestException as exc:
            raise LoginError(
                f"no answer from X's token endpoint ({type(exc).__name__}); try again"
            ) from exc
    if not token.get("refresh_token"):
        ui.show("X gave no refresh token (offline.access missing): log in again in 2 hours.")
    secrets = {
        "access_token": str(token["access_token"]),
        "refresh_token": str(token.get("refresh_token") or ""),
        "expires_at": str(int(token["expires_at"])),
        "client_id": client_id,
    }
    if client_secret:
        secrets["client_secret"] = client_secret
    return {key: value for key, value in secrets.items() if value}


def _whoami(
    *,
    name: str,
    account: XSettings,
    secrets: Mapping[str, str],
    transport: requests.adapters.BaseAdapter | None,
) -> Mapping[str, str]:
    """Prove the credentials work by asking X who they belong to."""
    adapter = XAdapter(
        name=name,
        settings=account.model_dump(exclude_none=True),
        secrets=secrets,
        repo=Path.cwd(),
        timeout=30.0,
    )
    if transport is not None:
        for origin in (API_BASE, TWEEPY_HOST):
            adapter.mount(origin, transport)
    try:
        return adapter.whoami()
    except AdapterError as exc:
        raise LoginError(f"X did not accept the new credentials: {exc}") from exc
    finally:
        adapter.close()
