"""What a platform is (its description) and the registry that finds them: built in and plugins.

A platform is described once, in its own module, by a ``Platform``: the account settings it
takes in klapper.yaml, its limits as data, its secrets, its login flow, how many posts one
reactions request can read, its colour in charts. Everything else in klapper asks the registry.

Built-in platforms are listed in ``BUILT_IN``; third-party ones are found through the entry-point
group ``klapper.platforms`` (``webhook = "klapper_webhook:PLATFORM"`` in the plugin's
pyproject.toml), as pytest and Mopidy find their plugins. Descriptions import no client library:
the adapter class (``"module:Class"``) is imported only when an account of that platform is used.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "klapper.platforms"
#: the platforms that come with klapper: name -> "module:attribute" of its description
BUILT_IN: dict[str, str] = {
    "outbox": "klapper.adapters.outbox:PLATFORM",
    "mastodon": "klapper.adapters.mastodon:PLATFORM",
    "bluesky": "klapper.adapters.bluesky:PLATFORM",
    "x": "klapper.adapters.x:PLATFORM",
    "linkedin": "klapper.adapters.linkedin:PLATFORM",
    "facebook": "klapper.adapters.facebook:PLATFORM",
    "instagram": "klapper.adapters.instagram:PLATFORM",
    "threads": "klapper.adapters.threads:PLATFORM",
    "google-business": "klapper.adapters.google_business:PLATFORM",
}

Counting = Literal["chars", "graphemes", "x-weighted", "mastodon", "threads"]


@dataclass(frozen=True)
class Rules:
    """A platform's published limits; `klapper check` reads them, adapters never re-check."""

    counting: Counting  # how the platform counts text length (see adapters.counting)
    text_limit: int  # the most characters a post may have, as counted above
    max_media: int  # images per post
    media_types: frozenset[str]  # MIME types accepted for images
    max_media_bytes: int  # size of one image file
    alt_limit: int  # characters of alt text per image
    threads: bool = True  # follow-ups can be posted as replies
    max_text_bytes: int | None = None  # a cap on the UTF-8 size of the text, besides the count
    counts_cw: bool = False  # a content warning counts toward the text limit
    # Where campaign tags go: into the links in the text, or only into link facets' targets
    # (the visible text stays short; see queue.campaign).
    link_tags: Literal["text", "facets"] = "text"
    media_required: bool = False  # a post without an image cannot go out (Instagram)
    max_hashtags: int | None = None  # #tags one text may hold
    max_mentions: int | None = None  # @mentions one text may hold


class AccountSettings(BaseModel):
    """What every account takes in klapper.yaml; each platform adds its own fields.

    A platform's model narrows ``platform`` to its name (``Literal["mastodon"]``), which is how
    klapper.yaml's ``accounts`` union picks the model for each account.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: fields naming a folder or file that must stay inside the content repository
    repository_paths: ClassVar[tuple[str, ...]] = ()

    platform: str = Field(description="Which platform publishes for this account.")
    text_limit: int | None = Field(
        None, gt=0, description="Override the platform's text limit (e.g. a Mastodon instance's)."
    )
    paused: bool = Field(False, description="Publish nothing to this account for now.")


@dataclass(frozen=True, kw_only=True)
class Platform:
    """One platform's whole description (see the module docstring)."""

    name: str  # the value of `platform:` in klapper.yaml
    title: str  # how people write it, for messages ("Mastodon")
    adapter: str  # "module:Class" of its Adapter, imported on first use
    settings: type[AccountSettings]  # the account's settings in klapper.yaml
    rules: Rules  # its published limits
    secret_keys: tuple[str, ...] = ()  # credentials it needs (KLAPPER_<ACCOUNT>_<KEY>)
    uses_secrets: bool = True  # False: never read the secret sources (the local outbox)
    login: str | None = None  # "module:function" of its `klapper login` flow
    lookup_batch: int = 1  # posts one reactions request can read
    colour: str = "#8b95a5"  # its colour in the report's charts
    docs: str | None = None  # the page that explains its accounts and tokens
    #: "module:function(settings, *, cache_dir) -> Rules | None": limits that depend on the
    #: account (what its server announced, its format); None keeps ``rules``
    account_rules: str | None = None
    #: "module:function(options) -> list[str]": what is wrong with one part's per-platform
    #: options once ``per:`` overrides are merged (e.g. an offer without its dates); None: nothing
    check_options: str | None = None
    #: an answer from the inbox starts with the author's handle unless its text names them
    #: (Mastodon notifies only the accounts a status mentions, not the one it answers)
    answer_mentions: bool = False

    @property
    def needs_credentials(self) -> bool:
        return bool(self.secret_keys)

    def adapter_class(self) -> type[Any]:
        return _load(self.adapter)  # type: ignore[no-any-return]

    def login_flow(self) -> Callable[..., dict[str, str]] | None:
        return _load(self.login) if self.login else None

    def option_problems(self, options: Mapping[str, Any]) -> list[str]:
        """What ``check_options`` finds wrong with one part's options (none without it)."""
        return list(_load(self.check_options)(options)) if self.check_options else []

    def rules_for(self, settings: AccountSettings, *, cache_dir: Path | None = None) -> Rules:
        """This account's limits: its own ``account_rules``, then its ``text_limit``."""
        rules = self.rules
        if self.account_rules is not None:
            rules = _load(self.account_rules)(settings, cache_dir=cache_dir) or rules
        if settings.text_limit:
            rules = replace(rules, text_limit=settings.text_limit)
        return rules


def account_settings(**fields: Any) -> AccountSettings:
    """One account's settings, validated by its platform's model (``platform=`` picks it)."""
    return platform(str(fields.get("platform"))).settings.model_validate(fields)


class PlatformError(Exception):
    """A platform name klapper does not know, or a plugin that cannot be loaded."""


def _load(target: str) -> Any:
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


@functools.cache
def registry() -> dict[str, Platform]:
    """Every platform by name: the built-in ones, then plugins (a plugin never replaces one)."""
    found = {name: _load(target) for name, target in BUILT_IN.items()}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name in found:
            if point.value != BUILT_IN.get(point.name):
                log.warning(
                    "plugin %s (%s) ignored: %r is a built-in platform",
                    point.value,
                    point.dist.name if point.dist else "?",
                    point.name,
                )
            continue
        try:
            described = point.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop klapper
            log.warning(
                "platform plugin %r (%s) cannot be loaded: %s: %s; it is left out",
                point.name,
                point.value,
                type(exc).__name__,
                exc,
            )
            continue
        if not isinstance(described, Platform) or described.name != point.name:
            log.warning(
                "platform plugin %r (%s) is not a klapper Platform named %r; left out",
                point.name,
                point.value,
                point.name,
            )
            continue
        found[point.name] = described
    return found


def platform(name: str) -> Platform:
    """The description of ``name``; PlatformError names the known platforms."""
    try:
        return registry()[name]
    except KeyError:
        raise PlatformError(f"unknown platform {name!r}; known: {', '.join(registry())}") from None
