"""Google Business Profile (local posts on Maps and Search): the platform's description.

Getting access: a Google Cloud project whose one-off Business Profile API access application
Google has approved (until then every quota is 0), an OAuth client of type "Desktop app", and a
verified profile; then ``klapper login ACCOUNT`` (docs/google-business.md). The adapter
(``adapter.py``) is imported only when it is used.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from klapper.config.platforms import AccountSettings, Platform, Rules


class GoogleBusinessSettings(AccountSettings):
    """A Google Business Profile location in klapper.yaml."""

    platform: Literal["google-business"] = Field(description="A Google Business Profile.")
    location: str = Field(
        pattern=r"^accounts/[^/\s]+/locations/[^/\s]+$",
        description="The profile as accounts/ACCOUNT_ID/locations/LOCATION_ID"
        " (docs/google-business.md says where to find both ids).",
    )
    media_url: str | None = Field(
        None,
        pattern=r"^https://",
        description="Where the repository's files are served publicly: Google fetches a post's"
        " photo from media_url + its path in the repository.",
    )


# Sources: developers.google.com/my-business/reference/rest/v4/accounts.locations.localPosts
# (one media item; the summary, at most 1,500 characters) and support.google.com/business
# /answer/7342169 (photos JPG or PNG, 10 KB to 5 MB). Local posts carry no alt text and have no
# replies, so no threads; 1,000 characters of alt text are only what `klapper check` lets pass.
RULES = Rules(
    counting="chars",
    text_limit=1500,
    max_media=1,
    media_types=frozenset({"image/jpeg", "image/png"}),
    max_media_bytes=5 * 1024 * 1024,
    alt_limit=1000,
    threads=False,
)

PLATFORM = Platform(
    name="google-business",
    title="Google Business Profile",
    adapter="klapper.adapters.google_business.adapter:GoogleBusinessAdapter",
    settings=GoogleBusinessSettings,
    rules=RULES,
    secret_keys=("access_token", "expires_at", "refresh_token", "client_id", "client_secret"),
    login="klapper.adapters.google_business.login:login",
    lookup_batch=10,  # reportLocalPostInsights takes up to 10 localPostNames
    colour="#34a853",
    docs="docs/google-business.md",
    check_options="klapper.adapters.google_business.post:option_problems",
)
