"""Mastodon, and servers speaking its API (GoToSocial, Takahē, Pleroma): the platform's description.

Token: ``klapper login ACCOUNT`` registers klapper as an app on the instance (scopes read and
write) and stores ``access_token``; or create an application in the web interface (Preferences >
Development, scopes read and write) and give its token as KLAPPER_<ACCOUNT>_ACCESS_TOKEN.
The adapter (``adapter.py``, Mastodon.py) is imported only when a Mastodon account is used.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from klapper.config.platforms import AccountSettings, Platform, Rules


class MastodonSettings(AccountSettings):
    """A Mastodon account in klapper.yaml."""

    platform: Literal["mastodon"] = Field(description="Mastodon or a server speaking its API.")
    instance: str | None = Field(
        None, description="The instance URL, e.g. https://mastodon.social."
    )
    handle: str | None = Field(None, description="The account's handle (for messages).")
    visibility: str | None = Field(
        None, description="Default visibility: public, unlisted, private or direct."
    )


# docs.joinmastodon.org: 500 chars by default (instances may differ: /api/v2/instance),
# 4 attachments, images up to 16 MB, descriptions up to 1500 chars.
RULES = Rules(
    counting="mastodon",
    text_limit=500,
    max_media=4,
    media_types=frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"}),
    max_media_bytes=16 * 1024 * 1024,
    alt_limit=1500,
    counts_cw=True,
)

PLATFORM = Platform(
    name="mastodon",
    title="Mastodon",
    adapter="klapper.adapters.mastodon.adapter:MastodonAdapter",
    settings=MastodonSettings,
    rules=RULES,
    secret_keys=("access_token",),
    login="klapper.adapters.mastodon.login:login",
    lookup_batch=20,  # GET /api/v1/statuses?id[]= (Mastodon 4.3+)
    colour="#6364ff",
    docs="docs/credentials.md",
    account_rules="klapper.adapters.mastodon.limits:announced_rules",
    answer_mentions=True,
)
