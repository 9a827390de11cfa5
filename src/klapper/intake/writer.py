"""Writing imported posts: staged, loaded back and checked like `klapper check`, then renamed.

What is written always loads: a post file is first written to a hidden staged file (no .yaml
suffix, so no loader walks it), read back through the loader under its final name and checked
for every account it goes to; only a post without errors is renamed into place. Ids already in
the repository (also those of posts with errors, wherever their files were moved) are known,
so an import never writes a post twice.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from klapper.adapters.base import Rules
from klapper.config.model import Config
from klapper.intake.postfile import render, stage
from klapper.queue import check_posts, load_repository
from klapper.queue.build import RepoContext
from klapper.queue.files import load_file
from klapper.queue.load import Repository

IMPORTED = "imported"  # below the posts folder


@dataclass(frozen=True)
class Outcome:
    """What became of one row (``line``) or feed entry (``entry``); ``file`` and ``post`` when
    written or there before, ``reason`` when refused or skipped."""

    line: int | None = None
    entry: str | None = None
    file: str | None = None
    post: str | None = None
    reason: str | None = None
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, ())}


@dataclass
class ImportResult:
    written: list[Outcome] = field(default_factory=list)
    skipped: list[Outcome] = field(default_factory=list)  # imported before
    refused: list[Outcome] = field(default_factory=list)

    def to_json(self) -> dict[str, list[dict[str, Any]]]:
        return {
            name: [o.to_json() for o in getattr(self, name)]
            for name in ("written", "skipped", "refused")
        }


class RefusedError(Exception):
    """The post was not written; ``str(exc)`` is every error found, in one line."""


class PostWriter:
    """Writes posts under ``<posts>/imported/`` of one repository."""

    def __init__(
        self, *, repo: Path, config: Config, rules: Mapping[str, Rules], now: datetime
    ) -> None:
        self.repo, self.config, self.rules, self.now = repo, config, rules, now
        self.ctx = RepoContext.create(config=config, root=repo)
        posts = PurePosixPath(config.paths.posts) / IMPORTED
        self.folder_name = posts.as_posix()
        self.folder = repo / posts
        repository = load_repository(repo)
        # Every id in the repository, with its file: also those of posts with errors.
        self.known = {p.post: p.source.file for p in repository.problems if p.post}
        self.known.update((post.id, post.source.file) for post in repository.posts)

    def write(self, *, fields: dict[str, Any], stem: str, source: str) -> Outcome:
        """Write the post ``fields`` (with ``id``) as ``<stem>.yaml``; RefusedError on errors."""
        pid = str(fields["id"])
        name = f"{stem}.yaml"
        if (self.folder / name).exists():  # another post of that minute and beginning
            name = f"{stem}-{pid[-6:]}.yaml"
        file = f"{self.folder_name}/{name}"
        self.folder.mkdir(parents=True, exist_ok=True)
        staged = stage(self.folder, render(fields=fields, source=source).encode())
        try:
            loaded = load_file(staged, file=file, ctx=self.ctx, stamp=None)
            alone = Repository(self.config, list(loaded.posts), [], self.repo)
            problems = [*loaded.problems, *check_posts(alone, now=self.now, rules=self.rules)]
            errors = [p.message for p in problems if p.severity == "error"]
            if errors or not loaded.posts:
                raise RefusedError("; ".join(dict.fromkeys(errors)) or "no post in it")
            os.replace(staged, self.folder / name)
        finally:
            if os.path.exists(staged):
                os.unlink(staged)
        self.known[pid] = file
        return Outcome(
            file=file, post=pid, warnings=tuple(dict.fromkeys(p.message for p in problems))
        )
