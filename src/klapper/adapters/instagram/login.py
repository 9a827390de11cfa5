"""`klapper login` for Instagram: the person's Meta app, then a long-lived user token (60 days).

Instagram API with Facebook Login: the Instagram professional account is linked to a Page the
person has a role on, and the person's own long-lived token publishes for it. The login reads
the account named in klapper.yaml (``GET /{user}?fields=username``) to prove the token reaches
it before anything is kept.
"""

from __future__ import annotations

from collections.abc import Mapping

from klapper.adapters.instagram import InstagramSettings
from klapper.adapters.meta import GRAPH_BASE, GRAPH_VERSION, OAUTH_BASE
from klapper.adapters.meta.login import (
    app_credentials,
    authorization_code,
    facebook_user_token,
    lasts,
    token_request,
)
from klapper.login import LoginError, LoginUI
from klapper.login.redirect import DEFAULT_PORT

#: publish, read the account's media, comments and counts, post the first comment
SCOPES = (
    "instagram_basic",
    "instagram_content_publish",
    "instagram_manage_comments",
    "pages_show_list",
    "pages_read_engagement",
)


def login(
    *,
    name: str,
    account: InstagramSettings,
    existing: Mapping[str, str],
    ui: LoginUI,
    graph_base: str = GRAPH_BASE,
    oauth_base: str = OAUTH_BASE,
    port: int = DEFAULT_PORT,
    timeout: float = 300.0,
) -> dict[str, str]:
    """Log ``name`` in to its Instagram account and return its complete new credentials."""
    version = account.graph_version or GRAPH_VERSION
    graph = f"{graph_base.rstrip('/')}/{version}"
    app = app_credentials(existing=existing, ui=ui, product="Facebook Login", port=port)
    code, redirect_uri = authorization_code(
        ui=ui,
        dialog=f"{oauth_base.rstrip('/')}/{version}/dialog/oauth",
        app=app,
        scopes=SCOPES,
        who=f"Instagram account {account.user}",
        port=port,
        timeout=timeout,
    )
    token, expiry = facebook_user_token(app=app, code=code, redirect_uri=redirect_uri, graph=graph)
    found = token_request(
        "GET",
        f"{graph}/{account.user}",
        token=token,
        what=f"read Instagram account {account.user}",
        params={"fields": "id,username"},
    )
    if str(found.get("id")) != account.user:
        raise LoginError(
            f"Meta did not show Instagram account {account.user}: link it to a Page you have a"
            " role on and tick both in the consent dialog (docs/meta.md)"
        )
    credentials = {**app.secrets(), "access_token": token}
    if expiry:
        credentials["expires_at"] = expiry
    ui.show(
        f"Logged in to Instagram as @{found.get('username') or account.user};"
        f" the token {lasts(expiry)}."
    )
    return credentials
