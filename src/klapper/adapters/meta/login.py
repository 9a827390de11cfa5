"""The login steps every Meta platform shares: the person's own app, the code, long-lived tokens.

A business publishes through its own Meta app (developers.facebook.com/apps), which needs no
App Review while only people with a role on the app use it. The flow asks for the app's id and
secret (kept from an earlier login), sends the person to Meta's consent dialog, receives the
authorization code on klapper's listener at 127.0.0.1, exchanges it for a token and that for a
long-lived one (60 days). The platform's own ``login`` then derives what it posts with.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import requests

from klapper.adapters.http_errors import reason_of
from klapper.login import LoginError, LoginUI, show_consent
from klapper.login.redirect import DEFAULT_PATH, DEFAULT_PORT, RedirectError, RedirectListener

#: seconds one token request may take
TOKEN_TIMEOUT = 30.0


@dataclass(frozen=True)
class MetaApp:
    """The person's Meta app: its id and secret (App settings > Basic)."""

    app_id: str
    app_secret: str

    def secrets(self) -> dict[str, str]:
        return {"app_id": self.app_id, "app_secret": self.app_secret}


def app_credentials(
    *,
    existing: Mapping[str, str],
    ui: LoginUI,
    product: str,
    port: int,
    label: str = "Meta app",
) -> MetaApp:
    """The app from an earlier login, else asked for (the secret hidden as it is typed).
    ``label`` names the pair the app's dashboard shows (Threads has its own "Threads app")."""
    if existing.get("app_id") and existing.get("app_secret"):
        return MetaApp(existing["app_id"], existing["app_secret"])
    ui.show(
        f"klapper needs your own Meta app (https://developers.facebook.com/apps) with {product}"
        f" and the redirect URI http://127.0.0.1:{port or DEFAULT_PORT}{DEFAULT_PATH}"
        " (docs/meta.md walks through it)."
    )
    app_id = ui.prompt(f"{label} ID").strip()
    app_secret = ui.prompt(f"{label} secret", secret=True).strip()
    if not (app_id and app_secret):
        raise LoginError(
            "both the app ID and the app secret are needed; find them in the app's"
            " App settings > Basic"
        )
    return MetaApp(app_id, app_secret)


def authorization_code(
    *,
    ui: LoginUI,
    dialog: str,
    app: MetaApp,
    scopes: Sequence[str],
    who: str,
    port: int,
    timeout: float,
) -> tuple[str, str]:
    """Send the person to Meta's consent ``dialog``; (the code, the redirect URI it came to)."""
    try:
        with RedirectListener(port=port) as listener:
            url = (
                dialog
                + "?"
                + urlencode(
                    {
                        "client_id": app.app_id,
                        "redirect_uri": listener.redirect_uri,
                        "state": listener.state,
                        "response_type": "code",
                        "scope": ",".join(scopes),
                    }
                )
            )
            show_consent(ui, url, asking=f"Allow klapper to post for {who}")
            return listener.wait(timeout=timeout), listener.redirect_uri
    except RedirectError as exc:
        raise LoginError(str(exc)) from exc


def token_request(
    method: str,
    url: str,
    *,
    what: str,
    params: Mapping[str, str] | None = None,
    data: Mapping[str, str] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """One request of the login; its JSON, or a ``LoginError`` with Meta's reason (and never
    the URL, which carries the app secret)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = requests.request(
            method, url, params=params, data=data, headers=headers, timeout=TOKEN_TIMEOUT
        )
    except requests.RequestException as exc:
        raise LoginError(
            f"cannot reach Meta to {what} ({type(exc).__name__}); check the"
            " connection and log in again"
        ) from exc
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code >= 400 or not isinstance(answer, dict):
        error = answer.get("error") if isinstance(answer, dict) else None
        said = (error.get("message") if isinstance(error, dict) else None) or reason_of(
            response.content, status=response.status_code
        )
        raise LoginError(
            f"Meta refused to {what}: {said}; check the app's settings"
            " (docs/meta.md) and log in again"
        )
    return answer


def expires_at(expires_in: Any, *, now: float | None = None) -> str | None:
    """``expires_in`` seconds from now as the ISO 8601 UTC time the secrets keep; None when
    Meta gave none (or 0: a token that does not expire)."""
    try:
        seconds = float(expires_in)
    except (TypeError, ValueError):
        return None
    if seconds <= 0:
        return None
    moment = (now if now is not None else time.time()) + seconds
    return datetime.fromtimestamp(int(moment), tz=UTC).isoformat()


def lasts(expires: str | None) -> str:
    """ "lasts N days" for a stored expiry, for the closing message."""
    if not expires:
        return "does not expire"
    left = datetime.fromisoformat(expires) - datetime.now(UTC)
    return f"lasts {max(0, round(left.total_seconds() / 86400))} days"


def facebook_user_token(
    *, app: MetaApp, code: str, redirect_uri: str, graph: str
) -> tuple[str, str | None]:
    """Facebook Login's code into a long-lived user token: (token, its expiry)."""
    short = token_request(
        "GET",
        f"{graph}/oauth/access_token",
        what="exchange the code",
        params={
            "client_id": app.app_id,
            "client_secret": app.app_secret,
            "redirect_uri": redirect_uri,
            "code": code,
        },
    )
    long = token_request(
        "GET",
        f"{graph}/oauth/access_token",
        what="exchange the token for a long-lived one",
        params={
            "grant_type": "fb_exchange_token",
            "client_id": app.app_id,
            "client_secret": app.app_secret,
            "fb_exchange_token": str(short.get("access_token", "")),
        },
    )
    if not long.get("access_token"):
        raise LoginError("Meta answered without an access token; log in again")
    return str(long["access_token"]), expires_at(long.get("expires_in"))


@dataclass(frozen=True)
class FacebookLogin:
    """What Facebook Login gave: the app, the Graph API base it used, a long-lived user token."""

    app: MetaApp
    graph: str
    user_token: str
    expires: str | None


def facebook_login(
    *,
    ui: LoginUI,
    existing: Mapping[str, str],
    version: str,
    scopes: Sequence[str],
    who: str,
    graph_base: str,
    oauth_base: str,
    port: int,
    timeout: float,
) -> FacebookLogin:
    """The app, its consent dialog through 127.0.0.1, and the code turned into a 60-day token."""
    graph = f"{graph_base.rstrip('/')}/{version}"
    app = app_credentials(existing=existing, ui=ui, product="Facebook Login", port=port)
    code, redirect_uri = authorization_code(
        ui=ui,
        dialog=f"{oauth_base.rstrip('/')}/{version}/dialog/oauth",
        app=app,
        scopes=scopes,
        who=who,
        port=port,
        timeout=timeout,
    )
    token, expiry = facebook_user_token(app=app, code=code, redirect_uri=redirect_uri, graph=graph)
    return FacebookLogin(app=app, graph=graph, user_token=token, expires=expiry)
