"""`klapper login` for Threads: the person's Threads app, the code, a 60-day token.

Threads has its own consent page (threads.net/oauth/authorize) and token endpoints on
graph.threads.net: the code becomes a short-lived token (``POST /oauth/access_token``, one hour,
with the profile's id), that one a long-lived token (``GET /access_token?grant_type=
th_exchange_token``, 60 days). The profile is read back (``GET /me?fields=id,username``) to prove
the token works before anything is kept. The adapter refreshes the token from then on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from klapper.adapters.meta.login import (
    app_credentials,
    authorization_code,
    expires_at,
    lasts,
    token_request,
)
from klapper.adapters.threads import OAUTH_BASE, THREADS_BASE, THREADS_VERSION, ThreadsSettings
from klapper.login import LoginError, LoginUI
from klapper.login.redirect import DEFAULT_PORT

#: publish, read its own posts and replies, read insights (docs/meta.md, "Threads")
SCOPES = (
    "threads_basic",
    "threads_content_publish",
    "threads_manage_replies",
    "threads_read_replies",
    "threads_manage_insights",
)


def login(
    *,
    name: str,
    account: ThreadsSettings,
    existing: Mapping[str, str],
    ui: LoginUI,
    api_base: str = THREADS_BASE,
    oauth_base: str = OAUTH_BASE,
    port: int = DEFAULT_PORT,
    timeout: float = 300.0,
) -> dict[str, str]:
    """Log ``name`` in to its Threads profile and return its complete new credentials."""
    api = api_base.rstrip("/")
    app = app_credentials(
        existing=existing,
        ui=ui,
        product="the Threads use case",
        port=port,
        label="Threads app",
    )
    code, redirect_uri = authorization_code(
        ui=ui,
        dialog=f"{oauth_base.rstrip('/')}/oauth/authorize",
        app=app,
        scopes=SCOPES,
        who="your Threads profile",
        port=port,
        timeout=timeout,
    )
    short = token_request(
        "POST",
        f"{api}/oauth/access_token",
        what="exchange the code",
        data={
            "client_id": app.app_id,
            "client_secret": app.app_secret,
            "grant_type": "authorization_code",
            "redirect_uri": redirect_uri,
            "code": code,
        },
    )
    long = token_request(
        "GET",
        f"{api}/access_token",
        what="exchange the token for a long-lived one",
        params={
            "grant_type": "th_exchange_token",
            "client_secret": app.app_secret,
            "access_token": str(short.get("access_token", "")),
        },
    )
    token = str(long.get("access_token") or "")
    if not token:
        raise LoginError("Meta answered without an access token; log in again")
    profile = token_request(
        "GET",
        f"{api}/{THREADS_VERSION}/me",
        token=token,
        what="read the Threads profile",
        params={"fields": "id,username"},
    )
    now = datetime.now(UTC).replace(microsecond=0)
    credentials = {
        **app.secrets(),
        "access_token": token,
        "issued_at": now.isoformat(),
        "user_id": str(profile.get("id") or short.get("user_id") or ""),
        "username": str(profile.get("username") or ""),
    }
    expiry = expires_at(long.get("expires_in"), now=now.timestamp())
    if expiry:
        credentials["expires_at"] = expiry
    ui.show(
        f"Logged in to Threads as @{profile.get('username') or credentials['user_id']};"
        f" the token {lasts(expiry)} and klapper refreshes it once it is a day old."
    )
    return credentials
