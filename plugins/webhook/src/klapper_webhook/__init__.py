"""The `webhook` platform: each delivery POSTed to a URL, as plain JSON, for Discord or for Slack.

Shipped as its own distribution (klapper-webhook) to prove klapper's plugin contract: klapper
finds it through the entry point ``klapper.platforms`` and knows nothing else about it.

Settings in klapper.yaml::

    accounts:
      site:  {platform: webhook, url: "https://example.com/hooks/klapper", headers: [Authorization]}
      team:  {platform: webhook, url: "https://discord.com/api/webhooks/ID/TOKEN", format: discord}

Header values are secrets and come from klapper's secret sources under the key
``header_<name>`` (``KLAPPER_SITE_HEADER_AUTHORIZATION``, or ``klapper login``-free entries in
the secrets file). A Discord or Slack webhook URL is itself a secret; put it in ``url`` only in a
private repository, or leave ``url`` out and give it as the secret ``url``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from klapper.config.platforms import AccountSettings, Platform, Rules

_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
MB = 1024 * 1024

#: limits of a plain JSON receiver: whatever it takes, within reason
JSON_RULES = Rules(
    counting="chars",
    text_limit=100_000,
    max_media=20,
    media_types=_IMAGES,
    max_media_bytes=100 * MB,
    alt_limit=10_000,
)
FORMAT_RULES = {
    "json": JSON_RULES,
    # discord.com/developers/docs/resources/webhook: content up to 2,000 characters, up to 10
    # attachments of 10 MiB (without boost); attachment descriptions (alt text) up to 1,024.
    "discord": Rules(
        counting="chars",
        text_limit=2000,
        max_media=10,
        media_types=_IMAGES,
        max_media_bytes=10 * MB,
        alt_limit=1024,
    ),
    # api.slack.com/messaging/webhooks: text up to 40,000 characters; images only as image
    # blocks with a public URL (hence media_url), alt_text up to 2,000 characters.
    "slack": Rules(
        counting="chars",
        text_limit=40_000,
        max_media=10,
        media_types=_IMAGES,
        max_media_bytes=100 * MB,
        alt_limit=2000,
    ),
}


class WebhookSettings(AccountSettings):
    """A webhook account in klapper.yaml."""

    platform: Literal["webhook"] = Field(description="Posts to a webhook URL.")
    url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="The webhook URL (or the secret `url`, for URLs that carry a token).",
    )
    format: Literal["json", "discord", "slack"] = Field(
        "json", description="json: one request per delivery; discord/slack: their webhooks."
    )
    headers: tuple[str, ...] = Field(
        (),
        description="Header names sent with each request; values are the secrets "
        "header_<name> (e.g. KLAPPER_SITE_HEADER_AUTHORIZATION).",
    )
    media_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="Where the repository's media files are served publicly (Slack needs it "
        "for images; json sends it as each image's url).",
    )


def header_secret(header: str) -> str:
    """The secret key holding a header's value: Authorization -> header_authorization."""
    return "header_" + "".join(c if c.isalnum() else "_" for c in header.lower())


def account_rules(settings: WebhookSettings, *, cache_dir: Path | None = None) -> Rules:
    """Each format has its own limits."""
    return FORMAT_RULES[settings.format]


PLATFORM = Platform(
    name="webhook",
    title="Webhook",
    adapter="klapper_webhook.adapter:WebhookAdapter",
    settings=WebhookSettings,
    rules=JSON_RULES,
    secret_keys=(),
    lookup_batch=1,
    colour="#0f766e",
    docs="plugins/webhook/README.md",
    account_rules="klapper_webhook:account_rules",
)
