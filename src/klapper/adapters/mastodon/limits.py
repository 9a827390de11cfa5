"""A Mastodon instance's own limits (from /api/v2/instance), cached for `klapper check`; status text.

The cache is one JSON file per instance, ``<cache_dir>/mastodon-<host>.json``, where
``cache_dir`` is the account setting the engine fills with its state folder. It holds::

    {"instance": "https://example.social", "fetched_at": "2026-...Z", "version": "4.3.2",
     "batch_lookup": true, "text_limit": 500, "max_media": 4, "max_media_bytes": 16777216,
     "alt_limit": 1500, "media_types": ["image/jpeg", ...], "characters_reserved_per_url": 23,
     "learnt": {"batch_lookup": false}}

``learnt`` holds what the server showed against its version's promise (a batch lookup that
answers 405); it is kept while the version stays the same.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from klapper.adapters.base import Rules
from klapper.adapters.mastodon import RULES, MastodonSettings

MAX_AGE = timedelta(days=1)  # instance limits rarely change; read them again after a day
_IMAGE_TYPES = RULES.media_types


def cache_file(*, cache_dir: Path | str, instance: str) -> Path:
    """Where the limits of ``instance`` are cached inside ``cache_dir``."""
    host = instance.split("://", 1)[-1].rstrip("/")
    return Path(cache_dir) / f"mastodon-{re.sub(r'[^A-Za-z0-9.-]', '_', host)}.json"


def cached_rules(*, cache_dir: Path | str, instance: str) -> Rules | None:
    """The instance's rules as last seen, without any network call; None when never read."""
    data = _read(cache_file(cache_dir=cache_dir, instance=instance))
    return rules_from_limits(RULES, data) if data else None


def announced_rules(settings: MastodonSettings, *, cache_dir: Path | None) -> Rules | None:
    """The registry's hook: what the account's instance announced, as cached by the engine."""
    if cache_dir is None or not settings.instance:
        return None
    return cached_rules(cache_dir=cache_dir, instance=settings.instance)


def rules_from_limits(base: Rules, limits: dict[str, Any] | None) -> Rules:
    """``base`` with whatever limits the instance announced."""
    if not limits:
        return base
    changes: dict[str, Any] = {
        key: int(limits[key])
        for key in ("text_limit", "max_media", "max_media_bytes", "alt_limit")
        if isinstance(limits.get(key), int) and limits[key] > 0
    }
    if limits.get("media_types"):
        changes["media_types"] = frozenset(limits["media_types"])
    return replace(base, **changes)


def limits_from_instance(info: dict[str, Any]) -> dict[str, Any]:
    """The limits klapper uses, from a /api/v2 (or v1) instance answer; absent keys are left out."""
    config = info.get("configuration") or {}
    statuses = config.get("statuses") or {}
    media = config.get("media_attachments") or {}
    version = str(info.get("version") or "")
    limits: dict[str, Any] = {
        "version": version,
        "batch_lookup": _version(version) >= (4, 3),  # GET /api/v1/statuses?id[]= since 4.3
        "text_limit": statuses.get("max_characters"),
        "max_media": statuses.get("max_media_attachments"),
        "characters_reserved_per_url": statuses.get("characters_reserved_per_url"),
        "max_media_bytes": media.get("image_size_limit"),
        "alt_limit": media.get("description_limit"),
    }
    supported = media.get("supported_mime_types")
    if supported:
        limits["media_types"] = sorted(_IMAGE_TYPES & set(supported))
    return {k: v for k, v in limits.items() if v is not None}


class LimitsCache:
    """The limits of one instance: in memory, and in a JSON file when ``folder`` is given."""

    def __init__(self, *, instance: str, folder: str | Path | None) -> None:
        self.instance = instance
        self.path = cache_file(cache_dir=folder, instance=instance) if folder else None
        self._data: dict[str, Any] | None = None

    def load(self) -> dict[str, Any] | None:
        if self._data is None and self.path is not None:
            self._data = _read(self.path)
        return self._data

    def stale(self) -> bool:
        data = self.load()
        if not data or "fetched_at" not in data:
            return True
        fetched = datetime.fromisoformat(data["fetched_at"])
        return datetime.now(UTC) - fetched > MAX_AGE

    def store(self, info: dict[str, Any]) -> dict[str, Any]:
        limits = limits_from_instance(info)
        old = self.load() or {}
        learnt = old.get("learnt") or {}
        if learnt and old.get("version") in (None, limits.get("version")):
            # What the server showed beats what its version promises, until it is upgraded
            # (learnt before its version was known: that version).
            limits.update(learnt, learnt=learnt)
        data = {"instance": self.instance, "fetched_at": datetime.now(UTC).isoformat(), **limits}
        self._data = data
        self._write()
        return data

    def note(self, **changes: Any) -> None:
        """Remember something learnt on the way (e.g. a missing endpoint), for this version."""
        data = self.load() or {}
        self._data = {**data, **changes, "learnt": {**(data.get("learnt") or {}), **changes}}
        self._write()

    def _write(self) -> None:
        if self.path is None or self._data is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self._data, handle, indent=1, sort_keys=True)
            os.replace(tmp, self.path)
        except OSError:
            # Only a cache: a read-only state folder must not stop a publish.
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _version(text: str) -> tuple[int, int]:
    # "4.3.2", "4.3.0+glitch", "4.2.0 (compatible; Takahe ...)": the part before + or space.
    numbers = re.findall(r"\d+", re.split(r"[+ ]", text.strip(), maxsplit=1)[0])
    return (int(numbers[0]), int(numbers[1])) if len(numbers) >= 2 else (0, 0)


# --- status text ----------------------------------------------------------------------------


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "p" and self.parts:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(content: str) -> str:
    """A status's HTML as plain text (links whole, including their hidden parts)."""
    parser = _TextExtractor()
    parser.feed(content)
    parser.close()
    return "".join(parser.parts).strip()


def local_mentions(text: str) -> str:
    """Text as servers render it: a mention ``@anna@other.social`` shows as ``@anna``."""
    return re.sub(r"(?<![\w@])@([\w.-]+)@[\w.-]+\w", r"@\1", text)
