"""`klapper login` for a Facebook Page: the person's Meta app, then the Page's own token.

The user token from Facebook Login (exchanged for a long-lived one) reads the Page's access
token (``GET /{page}?fields=access_token``); a Page token derived from a long-lived user token
does not expire unless Meta says otherwise (``debug_token``), so ``expires_at`` is stored only
when it does. The user token itself is not kept; whose the Page token is (``GET /me``: the
Page's id and name) is, see ``adapters.identity``.
"""

from __future__ import annotations

from collections.abc import Mapping

from klapper.adapters.facebook import FacebookSettings
from klapper.adapters.identity import checked
from klapper.adapters.meta import GRAPH_BASE, GRAPH_VERSION, OAUTH_BASE
from klapper.adapters.meta.login import (
    expires_at,
    facebook_login,
    lasts,
    token_request,
)
from klapper.login import LoginError, LoginUI
from klapper.login.redirect import DEFAULT_PORT

#: what the Page token needs: list and post as the Page, read its posts, comments and reactions
SCOPES = (
    "pages_show_list",
    "pages_manage_posts",
    "pages_read_engagement",
    "pages_read_user_content",
    "pages_manage_engagement",
)


def login(
    *,
    name: str,
    account: FacebookSettings,
    existing: Mapping[str, str],
    ui: LoginUI,
    graph_base: str = GRAPH_BASE,
    oauth_base: str = OAUTH_BASE,
    port: int = DEFAULT_PORT,
    timeout: float = 300.0,
) -> dict[str, str]:
    """Log ``name`` in to its Facebook Page and return its complete new credentials."""
    done = facebook_login(
        ui=ui,
        existing=existing,
        version=account.graph_version or GRAPH_VERSION,
        scopes=SCOPES,
        who=f"Page {account.page}",
        graph_base=graph_base,
        oauth_base=oauth_base,
        port=port,
        timeout=timeout,
    )
    app, graph, user_token = done.app, done.graph, done.user_token
    page = token_request(
        "GET",
        f"{graph}/{account.page}",
        token=user_token,
        what=f"read Page {account.page}",
        params={"fields": "name,access_token"},
    )
    page_token = page.get("access_token")
    if not page_token:
        raise LoginError(
            f"Meta gave no token for Page {account.page}: the person who logged in needs a role"
            " on the Page that can post, and the Page must be ticked in the consent dialog"
        )
    debugged = (
        token_request(
            "GET",
            f"{graph}/debug_token",
            token=f"{app.app_id}|{app.app_secret}",
            what="read the Page token's lifetime",
            params={"input_token": str(page_token)},
        ).get("data")
        or {}
    )
    missing = [scope for scope in SCOPES if scope not in (debugged.get("scopes") or SCOPES)]
    if missing:
        raise LoginError(
            f"Meta did not grant {', '.join(missing)}; allow them in the consent"
            " dialog (docs/meta.md lists what each is for) and log in again"
        )
    # Whose the Page token is, so klapper never uses it for another Page (adapters.identity).
    me = token_request(
        "GET",
        f"{graph}/me",
        token=str(page_token),
        what="read whose the Page token is",
        params={"fields": "id,name"},
    )
    if str(me.get("id")) != account.page:
        raise LoginError(
            f"Meta gave a token for {me.get('name') or '?'} (id {me.get('id')}), not for Page"
            f" {account.page}; check `page:` in klapper.yaml"
        )
    credentials = {**app.secrets(), "access_token": str(page_token)}
    credentials |= checked(
        credentials,
        credential="access_token",
        page_id=account.page,
        page_name=str(me.get("name") or ""),
    )
    expiry = _expiry(debugged.get("expires_at"))
    if expiry:
        credentials["expires_at"] = expiry
    ui.show(
        f"Logged in to the Facebook Page {page.get('name') or account.page};"
        f" the Page token {lasts(expiry)}."
    )
    return credentials


def _expiry(epoch: object) -> str | None:
    """debug_token's ``expires_at`` (epoch seconds, 0 for never) as a stored expiry."""
    try:
        seconds = int(str(epoch))
    except ValueError:
        return None
    return expires_at(seconds, now=0) if seconds > 0 else None
