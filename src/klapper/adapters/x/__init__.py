"""X (Twitter): the platform's description.

Getting a token: create a Project and an App at developer.x.com with read and write permissions
and the callback URL http://127.0.0.1:8914/callback, then run ``klapper login ACCOUNT`` (OAuth 2.0
with PKCE, or the App's OAuth 1.0a keys). The adapter (``adapter.py``, tweepy) is imported only
when an X account is used.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from klapper.config.platforms import AccountSettings, Platform, Rules

OAUTH2_KEYS = ("access_token", "refresh_token", "expires_at", "client_id")
OAUTH1_KEYS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")


class XSettings(AccountSettings):
    """An X account in klapper.yaml."""

    platform: Literal["x"] = Field(description="X (Twitter).")
    handle: str | None = Field(None, description="The account's handle, for post URLs.")


# twitter-text v3 weighted length 280; 4 images of up to 5 MB; alt text up to 1000 chars.
RULES = Rules(
    counting="x-weighted",
    text_limit=280,
    max_media=4,
    media_types=frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"}),
    max_media_bytes=5 * 1024 * 1024,
    alt_limit=1000,
)

PLATFORM = Platform(
    name="x",
    title="X",
    adapter="klapper.adapters.x.adapter:XAdapter",
    settings=XSettings,
    rules=RULES,
    secret_keys=tuple(dict.fromkeys((*OAUTH2_KEYS, "client_secret", *OAUTH1_KEYS))),
    login="klapper.adapters.x.login:login",
    lookup_batch=100,  # GET /2/tweets?ids=
    colour="#1f2328",
    docs="docs/credentials.md",
)
