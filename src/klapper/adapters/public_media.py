"""Where a platform fetches a media file: the account's ``media_url`` + the file's repository path.

Instagram, Threads and Google Business take images only by a public address, so an account of
theirs names in ``media_url`` where the content repository's files are served (the firm's
website, object storage). Every adapter builds the address here, and `klapper check --online`
asks the very same addresses, so what CI verified is what the platform will fetch.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote


class NotServed(ValueError):
    """The file lies outside the repository, so ``media_url`` cannot serve it."""


def media_base(settings: Mapping[str, Any] | Any) -> str | None:
    """An account's ``media_url`` (from its settings dict or model), None when it has none."""
    if isinstance(settings, Mapping):
        value = settings.get("media_url")
    else:
        value = getattr(settings, "media_url", None)
    return str(value).rstrip("/") if value else None


def public_url(*, base: str, repo: str | Path, path: str | Path) -> str:
    """The address of ``path`` under ``base``: ``BASE/media/a%20b.jpg`` for media/a b.jpg."""
    try:
        relative = Path(path).resolve().relative_to(Path(repo).resolve())
    except ValueError:
        raise NotServed(
            f"{path} is outside the repository, so media_url does not serve it"
        ) from None
    return f"{base.rstrip('/')}/{quote(relative.as_posix())}"
