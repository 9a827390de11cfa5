"""The platform table: one visible mapping from platform name to its adapter class.

Adapter modules import their client libraries (slow to import), so they load only when an
account of that platform is used; `klapper check` needs only ``rules.RULES``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from klapper.adapters.base import Adapter

PLATFORMS: dict[str, str] = {
    "outbox": "klapper.adapters.outbox:OutboxAdapter",
    "mastodon": "klapper.adapters.mastodon:MastodonAdapter",
    "bluesky": "klapper.adapters.bluesky:BlueskyAdapter",
    "x": "klapper.adapters.x:XAdapter",
    "linkedin": "klapper.adapters.linkedin:LinkedInAdapter",
}


def adapter_class(platform: str) -> type[Adapter]:
    """The adapter class for ``platform``; KeyError names the known ones."""
    try:
        target = PLATFORMS[platform]
    except KeyError:
        raise KeyError(f"unknown platform {platform!r}; known: {', '.join(PLATFORMS)}") from None
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def create_adapter(
    *, name: str, platform: str, settings: Mapping[str, Any], secrets: Mapping[str, str],
    repo: Path, timeout: float = 30.0,
    save_secrets: Callable[[Mapping[str, str]], None] | None = None,
) -> Adapter:
    """Build the adapter for one account."""
    cls = adapter_class(platform)
    return cls(
        name=name, settings=settings, secrets=secrets, repo=repo, timeout=timeout,
        save_secrets=save_secrets,
    )
