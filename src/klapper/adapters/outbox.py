"""The local outbox: each published part becomes one JSON file in a folder; no account needed.

Settings: ``path`` (default ``outbox``), relative to the content repository or absolute.
A file is named after the part's idempotency key and created atomically (written to a
temporary file, then hard-linked into place, which fails if the name exists), so the same
part published twice yields one file, and ``find`` recognises it.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from klapper.adapters.base import Adapter, Outgoing, PermanentError, Published, TransientError
from klapper.config.platforms import AccountSettings, Platform, Rules


class OutboxSettings(AccountSettings):
    """The outbox account in klapper.yaml."""

    repository_paths = ("path",)

    platform: Literal["outbox"] = Field(description="A local folder; needs no account.")
    path: str | None = Field(
        None, description="Folder for published posts, relative to the repository."
    )


# The local outbox takes anything; generous limits so it never refuses what others accept.
RULES = Rules(
    counting="chars",
    text_limit=100_000,
    max_media=20,
    media_types=frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"}),
    max_media_bytes=100 * 1024 * 1024,
    alt_limit=10_000,
)

PLATFORM = Platform(
    name="outbox",
    title="Outbox",
    adapter="klapper.adapters.outbox:OutboxAdapter",
    settings=OutboxSettings,
    rules=RULES,
    uses_secrets=False,
    docs="docs/content.md",
)


class OutboxAdapter(Adapter):
    """Writes posts as JSON files: the quick start's platform, and a dry run for real ones."""

    platform = "outbox"
    rules = RULES

    @property
    def folder(self) -> Path:
        return self.repo / str(self.settings.get("path") or "outbox")

    def _file(self, post: Outgoing) -> Path:
        key = post.idempotency_key
        if not key or "/" in key or key.startswith("."):
            raise PermanentError(f"unusable idempotency key {key!r} for an outbox file name")
        return self.folder / f"{key}.json"

    def _published(self, path: Path) -> Published:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Published(
            remote_id=path.name,
            url=path.resolve().as_uri(),
            published_at=datetime.fromisoformat(data["published_at"]),
        )

    def _media_name(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.repo.resolve()).as_posix()
        except ValueError:
            return str(path)

    def publish(self, post: Outgoing) -> Published:
        target = self._file(post)
        now = datetime.now(UTC)
        record: dict[str, Any] = {
            "text": post.text,
            "media": [{"file": self._media_name(m.path), "alt": m.alt} for m in post.media],
            "account": self.name,
            "post": post.post_id,
            "due": post.due.isoformat() if post.due else None,
            "published_at": now.isoformat(),
            "part": post.part,
            "reply_to": post.reply_to.parent.remote_id if post.reply_to else None,
            "options": dict(post.options),
        }
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(record, handle, ensure_ascii=False, indent=2, default=str)
                    handle.write("\n")
                    handle.flush()
                    os.fsync(handle.fileno())
                os.link(tmp, target)  # atomic, and refuses a name that exists
            except FileExistsError:
                return self._published(target)  # this part went out before: same file
            finally:
                os.unlink(tmp)
            dir_fd = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except PermissionError as exc:
            raise PermanentError(
                f"cannot write to the outbox folder {self.folder}: {exc.strerror}; "
                "make it writable or set the account's `path`"
            ) from exc
        except OSError as exc:
            raise TransientError(
                f"writing to the outbox folder {self.folder} failed: {exc.strerror or exc}"
            ) from exc
        return Published(remote_id=target.name, url=target.resolve().as_uri(), published_at=now)

    def find(self, post: Outgoing) -> Published | None:
        target = self._file(post)
        try:
            return self._published(target)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError) as exc:
            raise TransientError(f"cannot read {target}: {exc}") from exc
