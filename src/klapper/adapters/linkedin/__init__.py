"""LinkedIn (a person or an organization page): the platform's description.

Getting a token: create an app at https://www.linkedin.com/developers/apps with the products
"Share on LinkedIn" and "Sign In with LinkedIn using OpenID Connect" (and, for a page, the
Community Management API), register ``http://127.0.0.1:8914/callback``, then run
``klapper login ACCOUNT``. The adapter (``adapter.py``) is imported only when it is used.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from klapper.config.platforms import AccountSettings, Platform, Rules


class LinkedInSettings(AccountSettings):
    """A LinkedIn account in klapper.yaml."""

    platform: Literal["linkedin"] = Field(description="LinkedIn.")
    author: str | None = Field(
        None, description="Author URN, urn:li:person:... or urn:li:organization:..."
    )
    visibility: str | None = Field(
        None, description="PUBLIC, CONNECTIONS or LOGGED_IN (default PUBLIC)."
    )
    api_version: str | None = Field(
        None,
        json_schema_extra={"pattern": r"^\d{6}$"},
        description="The API version (YYYYMM) to send; LinkedIn retires each after about a year.",
    )

    @field_validator("api_version")
    @classmethod
    def _yyyymm(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d{6}", value):
            raise ValueError(
                f'{value!r} is not a LinkedIn API version; write YYYYMM, e.g. "202611"'
            )
        return value


# LinkedIn posts API: commentary up to 3000 chars; up to 20 images (multiImage);
# images API: JPG, PNG, GIF; alt text up to 4086 chars. Posts have no replies: thread
# follow-ups go out as the author's comments on the first post (one image each, no alt).
RULES = Rules(
    counting="chars",
    text_limit=3000,
    max_media=20,
    media_types=frozenset({"image/jpeg", "image/png", "image/gif"}),
    max_media_bytes=36_152_320,
    alt_limit=4086,
    threads=True,
)

PLATFORM = Platform(
    name="linkedin",
    title="LinkedIn",
    adapter="klapper.adapters.linkedin.adapter:LinkedInAdapter",
    settings=LinkedInSettings,
    rules=RULES,
    secret_keys=(
        "access_token",
        "expires_at",
        "refresh_token",
        "refresh_token_expires_at",
        "client_id",
        "client_secret",
    ),
    login="klapper.adapters.linkedin.login:login",
    lookup_batch=50,  # GET /rest/socialMetadata?ids=
    colour="#d97706",
    docs="docs/credentials.md",
)
