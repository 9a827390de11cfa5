"""Posts as the rest of klapper sees them: validated, times resolved, each with file and line."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Source:
    """Where something was written: repository-relative POSIX path, 1-based line and column."""

    file: str
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One finding of `klapper check` (and of loading): what is wrong, where, what to do."""

    source: Source
    severity: Severity
    message: str
    post: str | None = None
    account: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.source.file,
            "line": self.source.line,
            "column": self.source.column,
            "severity": self.severity,
            "post": self.post,
            "account": self.account,
            "message": self.message,
        }


@dataclass(frozen=True)
class Media:
    """An image: as written (``file``), resolved inside the repository (``path``), alt text."""

    file: str
    path: Path
    alt: str | None = None
    source: Source | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Part:
    """What one account receives for one part of a post (0 = the post, 1.. = thread)."""

    text: str
    media: tuple[Media, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)  # cw, visibility, lang ...


@dataclass(frozen=True)
class Override:
    """A `per:` entry: replaces fields for one account name or one platform."""

    text: str | None = None
    media: tuple[Media, ...] | None = None
    thread: tuple[Part, ...] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    # Its `utm:`: tags over the post's (placeholders unfilled), False for none, None: the post's.
    utm: Mapping[str, str] | Literal[False] | None = None


@dataclass(frozen=True)
class Post:
    """A post from the content repository.

    Time is one of: ``at`` (aware, in the config's zone), ``every`` (cron; with ``until`` and/or
    ``count``), or neither (the next free slot). ``at_note`` explains an ambiguous local time.
    """

    id: str
    source: Source
    text: str
    to: tuple[str, ...]
    media: tuple[Media, ...] = ()
    thread: tuple[Part, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)  # lang, cw, visibility ...
    per: Mapping[str, Override] = field(default_factory=dict)
    at: datetime | None = None
    at_note: str | None = None
    every: str | None = None
    until: datetime | None = None
    count: int | None = None
    draft: bool = False
    start: datetime | None = None  # `every`: the first occurrence is at or after this
    # `evergreen: {every: 8w}`: back into the slot queue this long after it went out
    evergreen: timedelta | None = None
    # The post's `utm:`: tags over klapper.yaml's (placeholders unfilled), False for none.
    utm: Mapping[str, str] | Literal[False] | None = None
    # (line, column) where parts of the post were written: "text", "at", "thread.2.text" ...
    locations: Mapping[str, tuple[int, int]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def source_of(self, name: str) -> Source:
        """Where ``name`` (a key of ``locations``) was written; the post's start if unknown."""
        where = self.locations.get(name)
        return Source(self.source.file, *where) if where else self.source

    @property
    def first_line(self) -> str:
        return first_line_of(self.text)

    def text_for(self, account: str, platform: str) -> str:
        """The text this account publishes: its `per:` text override, or the post's text."""
        return self.parts_for(account, platform)[0].text

    def parts_for(self, account: str, platform: str) -> tuple[Part, ...]:
        """The parts this account publishes: `per` by account name wins over `per` by platform."""
        text, media, thread = self.text, self.media, self.thread
        options = dict(self.options)
        for key in (platform, account):  # platform first, so the account name overrides it
            override = self.per.get(key)
            if override is None:
                continue
            text = override.text if override.text is not None else text
            media = override.media if override.media is not None else media
            thread = override.thread if override.thread is not None else thread
            options.update(override.options)
        first = Part(text=text, media=media, options=options)
        return (first, *(Part(p.text, p.media, {**options, **p.options}) for p in thread))

    def content_hash(self, account: str, platform: str) -> str:
        """A fingerprint of what this account would receive: detects edits and renames."""
        parts = [
            {
                "text": p.text,
                "media": [[m.file.rsplit("/", 1)[-1], m.alt] for m in p.media],
                "options": {k: p.options[k] for k in sorted(p.options)},
            }
            for p in self.parts_for(account, platform)
        ]
        blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def first_line_of(text: str) -> str:
    """The first line with something on it: how plan, status and reports name a post."""
    return next((line for line in text.splitlines() if line.strip()), "")


@dataclass(frozen=True, order=True)
class PlannedDelivery:
    """One post (or one occurrence of a repeating post) to one account, and when it is due.

    ``occurrence`` is "" for a one-off post and the occurrence's UTC time (ISO) for a repeat;
    ``slotted`` says the time came from a free slot rather than from the post itself.
    """

    due: datetime  # aware UTC
    post_id: str
    account: str
    occurrence: str = ""
    slotted: bool = False
    note: str | None = field(default=None, compare=False)  # e.g. "ambiguous local time ..."

    @property
    def key(self) -> str:
        """Stable delivery identity (before rename recognition): post, occurrence, account."""
        return f"{self.post_id}|{self.occurrence}|{self.account}"
