"""Bluesky (and any AT Protocol PDS): the platform's description.

Credentials: create an app password (Bluesky: Settings > Privacy and security > App passwords)
and run ``klapper login ACCOUNT``, or give it as KLAPPER_<ACCOUNT>_APP_PASSWORD. The adapter
(``adapter.py``, atproto) is imported only when a Bluesky account is used.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from klapper.config.platforms import AccountSettings, Platform, Rules


class BlueskySettings(AccountSettings):
    """A Bluesky account in klapper.yaml."""

    platform: Literal["bluesky"] = Field(description="Bluesky or another AT Protocol PDS.")
    handle: str | None = Field(None, description="Who logs in, e.g. shop.bsky.social.")
    service: str | None = Field(None, description="The PDS URL (default https://bsky.social).")


# app.bsky.feed.post lexicon: 300 graphemes and 3000 bytes of text, 4 images;
# app.bsky.embed.images: 1,000,000 bytes per image; alt text has no lexicon limit,
# Bluesky's app caps it at 2000.
RULES = Rules(
    counting="graphemes",
    text_limit=300,
    max_media=4,
    media_types=frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"}),
    max_media_bytes=1_000_000,
    alt_limit=2000,
    max_text_bytes=3000,
    link_tags="facets",  # the link facet carries the tagged URL; the text keeps it short
)

PLATFORM = Platform(
    name="bluesky",
    title="Bluesky",
    adapter="klapper.adapters.bluesky.adapter:BlueskyAdapter",
    settings=BlueskySettings,
    rules=RULES,
    secret_keys=("app_password",),
    login="klapper.adapters.bluesky.login:login",
    lookup_batch=25,  # app.bsky.feed.getPosts
    colour="#0ea5e9",
    docs="docs/bluesky.md",
)
