"""One imported row -> the text of its post file, its id and its file name.

The id is derived from what the post says (time, text, link, images, accounts), so the same
row imported again finds its post, wherever the file was moved since, and writes nothing.
Texts are written as YAML block scalars where YAML allows it, so the file reads like one
written by hand; every file is loaded back through the loader before it is kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

_SLUG_WORDS = 6
_SLUG_CHARS = 40


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Multi-line text as ``|`` blocks; PyYAML falls back to quotes where a block cannot hold it."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def post_id(
    *,
    at: str | None,
    text: str,
    link: str,
    images: tuple[str, ...],
    alts: tuple[str, ...],
    to: tuple[str, ...] | None,
) -> str:
    """``import-`` and 12 hex digits of the post's content: the same row, the same id."""
    key = json.dumps([at, text, link, images, alts, to], ensure_ascii=False)
    return "import-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def slug(text: str) -> str:
    """The first words of ``text`` in lower-case ASCII, joined by hyphens ("post" if none)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    words = [w for w in words if w not in ("http", "https", "www")][:_SLUG_WORDS]
    return "-".join(words)[:_SLUG_CHARS].strip("-") or "post"


def file_stem(*, local: datetime | None, text: str) -> str:
    """``2026-12-01-0900-our-advent-sale`` (``next-slot-...`` for a post without a time)."""
    when = f"{local:%Y-%m-%d-%H%M}" if local is not None else "next-slot"
    return f"{when}-{slug(text)}"


def render(*, fields: dict[str, Any], source: str) -> str:
    """The post file: a comment saying where it came from, then ``fields`` in YAML."""
    body = yaml.dump(fields, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1000)
    return f"# {source}\n{body}"


def stage(folder: Path, data: bytes) -> str:
    """``data`` in a new hidden file in ``folder`` (no .yaml suffix: the loader never walks
    it); the caller renames it into place or removes it."""
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".import-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except BaseException:
        os.unlink(temporary)
        raise
    return temporary


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (a staged file, then a rename)."""
    os.replace(stage(path.parent, data), path)
