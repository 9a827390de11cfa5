"""Threads profiles: the platform's description.

Getting a token: create your own Meta app with the Threads use case (it has its own Threads app
id and secret), add yourself as a Threads tester, register ``http://127.0.0.1:8914/callback``,
then run ``klapper login ACCOUNT`` (docs/meta.md). Threads fetches every image from a public
address: ``media_url`` is where the repository's files are served. The adapter (``adapter.py``)
is imported only when it is used.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from klapper.config.platforms import AccountSettings, Platform, Rules

#: where the Threads API and its consent page live; accounts override them only in tests
THREADS_BASE = "https://graph.threads.net"
OAUTH_BASE = "https://threads.net"
THREADS_VERSION = "v1.0"


class ThreadsSettings(AccountSettings):
    """A Threads profile in klapper.yaml (the profile is the one that logged in)."""

    platform: Literal["threads"] = Field(description="A Threads profile.")
    media_url: str = Field(
        pattern=r"^https?://",
        description="Where the repository's files are served publicly: a file media/a.jpg is"
        " fetched by Threads from MEDIA_URL/media/a.jpg.",
    )


# Sources: developers.facebook.com/docs/threads/posts ("Text posts are limited to 500
# characters"; a carousel holds at least 2 and at most 20 images or videos; images are JPEG or
# PNG of at most 8 MB; alt_text holds at most 1,000 characters; the first URL of a text-only
# post becomes its link preview, link_attachment names it) and /docs/threads/overview (250
# API-published posts and 1,000 replies per profile in 24 hours). Meta counts an emoji as its
# UTF-8 bytes (counting "threads"). Follow-ups are replies (reply_to_id).
RULES = Rules(
    counting="threads",
    text_limit=500,
    max_media=20,
    media_types=frozenset({"image/jpeg", "image/png"}),
    max_media_bytes=8 * 1024 * 1024,
    alt_limit=1000,
    threads=True,
)

PLATFORM = Platform(
    name="threads",
    title="Threads",
    adapter="klapper.adapters.threads.adapter:ThreadsAdapter",
    settings=ThreadsSettings,
    rules=RULES,
    secret_keys=(
        "access_token",
        "expires_at",
        "issued_at",
        "user_id",
        "username",
        "app_id",
        "app_secret",
    ),
    login="klapper.adapters.threads.login:login",
    lookup_batch=1,  # /{id}/insights reads one post; the Threads API has no ?ids=
    colour="#101010",
    docs="docs/meta.md",
)
