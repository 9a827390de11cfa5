"""`klapper login` for Instagram: the person's Meta app, then a long-lived user token (60 days).

Instagram API with Facebook Login: the Instagram professional account is linked to a Page the
person has a role on, and the person's own long-lived token publishes for it. The login reads
the account named in klapper.yaml (``GET /{user}?fields=username``) to prove the token reaches
it before anything is kept.
"""

from __future__ import annotations

from collections.abc import Mapping

from klapper.adapters.identity import checked
from klapper.adapters.instagram import InstagramSettings
from klapper.adapters.meta import GRAPH_BASE, GRAPH_VERSION, OAUTH_BASE
from klapper.adapters.meta.login import (
    facebook_login,
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
    done = facebook_login(
        ui=ui,
        existing=existing,
        version=account.graph_version or GRAPH_VERSION,
        scopes=SCOPES,
        who=f"Instagram account {account.user}",
        graph_base=graph_base,
        oauth_base=oauth_base,
        port=port,
        timeout=timeout,
    )
    app, graph, token, expiry = done.app, done.graph, done.user_token, done.expires
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
    # Whose the token is, for this account: checked before each use (adapters.identity).
    credentials |= checked(
        credentials,
        credential="access_token",
        user_id=account.user,
        username=str(found.get("username") or ""),
    )
    if expiry:
        credentials["expires_at"] = expiry
    ui.show(
        f"Logged in to Instagram as @{found.get('username') or account.user};"
        f" the token {lasts(expiry)}."
    )
    return credentials
