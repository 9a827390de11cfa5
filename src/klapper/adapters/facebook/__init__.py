"""Facebook Pages: the platform's description.

Getting a token: create your own Meta app with Facebook Login, give yourself a role on it and
the Page, register ``http://127.0.0.1:8914/callback``, then run ``klapper login ACCOUNT``
(docs/meta.md). The adapter (``adapter.py``) is imported only when it is used.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from klapper.config.platforms import AccountSettings, Platform, Rules

GRAPH_VERSION_PATTERN = r"^v\d+\.\d+$"


class FacebookSettings(AccountSettings):
    """A Facebook Page in klapper.yaml."""

    platform: Literal["facebook"] = Field(description="A Facebook Page.")
    page: str = Field(
        pattern=r"^\d+$",
        description="The Page's id (Page > About > Page transparency, or the Page's settings).",
    )
    graph_version: str | None = Field(
        None,
        pattern=GRAPH_VERSION_PATTERN,
        description="The Graph API version to call (e.g. v23.0); default: klapper's.",
    )


# Sources: developers.facebook.com/docs/pages-api/posts (a Page post's message holds up to
# 63,206 characters); /docs/graph-api/reference/page/photos (JPEG, BMP, PNG, GIF, TIFF, under
# 4 MB). Meta documents no maximum for attached_media or alt_text_custom: 10 photos and 1,000
# characters of alt text are klapper's own caps, within what the Facebook apps accept.
# Follow-ups go out as the Page's comments on the first post (one photo each).
RULES = Rules(
    counting="chars",
    text_limit=63_206,
    max_media=10,
    media_types=frozenset({"image/jpeg", "image/png", "image/gif", "image/bmp", "image/tiff"}),
    max_media_bytes=4 * 1024 * 1024,
    alt_limit=1000,
    threads=True,
)

PLATFORM = Platform(
    name="facebook",
    title="Facebook",
    adapter="klapper.adapters.facebook.adapter:FacebookAdapter",
    settings=FacebookSettings,
    rules=RULES,
    secret_keys=("access_token", "expires_at", "app_id", "app_secret"),
    login="klapper.adapters.facebook.login:login",
    lookup_batch=50,  # GET /?ids= takes up to 50 ids
    colour="#1877f2",
    docs="docs/meta.md",
)
