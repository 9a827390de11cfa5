"""Building an account's adapter from its platform's description in the registry.

Each platform is one package (``adapters/<name>/``: its description in ``__init__``, the code
in submodules) or a plugin; ``klapper.config.platforms`` finds them. Adapter modules import their
client libraries (slow to import), so they load only when an account of that platform is used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from klapper.adapters.base import Adapter
from klapper.config.platforms import platform as describe


def adapter_class(platform: str) -> type[Adapter]:
    """The adapter class for ``platform``; PlatformError names the known ones."""
    return describe(platform).adapter_class()


def create_adapter(
    *,
    name: str,
    platform: str,
    settings: Mapping[str, Any],
    secrets: Mapping[str, str],
    repo: Path,
    timeout: float = 30.0,
    save_secrets: Callable[[Mapping[str, str]], None] | None = None,
) -> Adapter:
    """Build the adapter for one account."""
    cls = adapter_class(platform)
    return cls(
        name=name,
        settings=settings,
        secrets=secrets,
        repo=repo,
        timeout=timeout,
        save_secrets=save_secrets,
    )
