"""A content repository in a temporary folder that engine tests write posts into."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml

from klapper.queue import LoadCache, Repository, load_repository


@dataclass
class TempRepo:
    root: Path

    def __post_init__(self) -> None:
        (self.root / "posts").mkdir(parents=True, exist_ok=True)

    def configure(self, *, accounts: tuple[str, ...] = ("a", "b"), **extra: object) -> None:
        config = {
            "timezone": "Europe/Berlin",
            "accounts": {name: {"platform": "outbox", "path": f"out-{name}"} for name in accounts},
            "defaults": {"to": list(accounts[:1])},
            "publishing": {"backoff": "1s", "max_backoff": "5s", "timeout": "1s"},
            **extra,
        }
        (self.root / "klapper.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")

    def write(self, name: str, **post: object) -> Path:
        """posts/<name>.yaml with one post; datetimes become ISO text with offset."""
        data = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in post.items()}
        path = self.root / "posts" / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return path

    def remove(self, name: str) -> None:
        (self.root / "posts" / f"{name}.yaml").unlink()

    def rename(self, old: str, new: str) -> None:
        (self.root / "posts" / f"{old}.yaml").rename(self.root / "posts" / f"{new}.yaml")

    def load(self, cache: LoadCache | None = None) -> Repository:
        return load_repository(self.root, cache=cache)
