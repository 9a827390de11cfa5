"""Instagram professional accounts: the platform's description.

Getting a token: the same Meta app as for Facebook (docs/meta.md), with the Instagram account
linked to a Page you have a role on; run ``klapper login ACCOUNT``. Instagram fetches every
image from a public address: ``media_url`` is where the repository's files are served. The
adapter (``adapter.py``) is imported only when it is used.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from klapper.adapters.facebook import GRAPH_VERSION_PATTERN
from klapper.config.platforms import AccountSettings, Platform, Rules


class InstagramSettings(AccountSettings):
    """An Instagram professional (business or creator) account in klapper.yaml."""

    platform: Literal["instagram"] = Field(description="An Instagram professional account.")
    user: str = Field(
        pattern=r"^\d+$",
        description="The Instagram account's id in the Graph API (IG_USER_ID; `klapper login`"
        " shows it).",
    )
    media_url: str = Field(
        pattern=r"^https?://",
        description="Where the repository's files are served publicly: a file media/a.jpg is"
        " fetched by Instagram from MEDIA_URL/media/a.jpg.",
    )
    graph_version: str | None = Field(
        None,
        pattern=GRAPH_VERSION_PATTERN,
        description="The Graph API version to call (e.g. v23.0); default: klapper's.",
    )


# Sources: developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/
# media (a caption holds at most 2,200 characters, 30 hashtags and 20 @ tags; images are JPEG
# only, 8 MB at most; a carousel holds 2 to 10 items) and /content-publishing (no text-only
# posts: every post is an image, a carousel, a video or a reel). Meta documents no maximum for
# alt_text: 1,000 characters is klapper's own cap. Instagram has no threads: a follow-up has
# nothing to answer, so `thread:` is an error (first_comment: is the comment after the post).
RULES = Rules(
    counting="chars",
    text_limit=2_200,
    max_media=10,
    media_types=frozenset({"image/jpeg"}),
    max_media_bytes=8 * 1024 * 1024,
    alt_limit=1000,
    threads=False,
    media_required=True,
    max_hashtags=30,
    max_mentions=20,
)

PLATFORM = Platform(
    name="instagram",
    title="Instagram",
    adapter="klapper.adapters.instagram.adapter:InstagramAdapter",
    settings=InstagramSettings,
    rules=RULES,
    secret_keys=("access_token", "expires_at", "app_id", "app_secret"),
    login="klapper.adapters.instagram.login:login",
    lookup_batch=50,  # GET /?ids= takes up to 50 ids
    colour="#e1306c",
    docs="docs/meta.md",
)
