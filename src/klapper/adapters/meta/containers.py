"""Publishing through a media container, as Instagram and Threads both do, exactly once.

Both APIs publish in two steps: ``POST .../media`` (Threads: ``.../threads``) creates a
container that Meta fills by fetching the media, its ``status_code`` (Threads: ``status``) goes
IN_PROGRESS -> FINISHED, then ``.../media_publish`` (``.../threads_publish``) makes the post.
An unpublished container is invisible and expires after 24 hours.

A container created but not yet published is reused, not created again: ``Pending`` remembers
it under the part's idempotency key (derived from the delivery and the part, so it survives a
restart) together with a fingerprint of what it holds (text, media URLs, options). The key, not
the caption, finds it: a caption is not unique, and two deliveries with the same text must never
share a container. The fingerprint makes sure an edited post never publishes the old content:
then a new container is made and the old one left to expire. The file lives in the account's
state folder (``cache_dir``), so a crash between the two steps does not lose it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from klapper.adapters.base import PermanentError, TransientError
from klapper.adapters.meta.graph import GraphClient

log = logging.getLogger(__name__)

#: containers live 24 hours; one kept longer than that is surely expired
CONTAINER_LIFETIME = 24 * 3600
#: the first wait between status reads; it doubles up to ``POLL_MOST``
POLL_FIRST, POLL_MOST = 0.2, 5.0


def fingerprint(content: Mapping[str, Any]) -> str:
    """What a container holds, as a short hash (never the text itself on disk)."""
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:32]


class Pending:
    """Containers created but not yet published: idempotency key -> (container, fingerprint)."""

    def __init__(self, *, folder: str | Path | None, platform: str, account: str) -> None:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in account)
        self.path = Path(folder) / f"{platform}-containers-{safe}.json" if folder else None
        self._lock = threading.Lock()
        self._memory: dict[str, dict[str, Any]] = {}

    def get(self, key: str, *, content: str) -> str | None:
        """The container kept for ``key`` holding ``content`` (a fingerprint), else None."""
        entry = self._read().get(key)
        if not entry or entry.get("content") != content:
            return None
        if time.time() - float(entry.get("created", 0)) > CONTAINER_LIFETIME:
            return None
        return str(entry["container"])

    def remember(self, key: str, *, content: str, container: str) -> None:
        with self._lock:
            entries = self._read()
            entries[key] = {"container": container, "content": content, "created": time.time()}
            self._write(entries)

    def forget(self, key: str) -> None:
        with self._lock:
            entries = self._read()
            if entries.pop(key, None) is not None:
                self._write(entries)

    def _read(self) -> dict[str, dict[str, Any]]:
        if self.path is None:
            return dict(self._memory)
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable container file %s: %s", self.path, exc)
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, entries: dict[str, dict[str, Any]]) -> None:
        now = time.time()  # drop what has surely expired, so the file stays small
        entries = {
            key: entry
            for key, entry in entries.items()
            if now - float(entry.get("created", 0)) <= CONTAINER_LIFETIME
        }
        if self.path is None:
            self._memory = entries
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(entries), encoding="utf-8")
        os.replace(temporary, self.path)


@dataclass(frozen=True)
class ContainerAPI:
    """Where one platform keeps its containers: the edges and the name of the status field."""

    title: str  # "Instagram"
    publish_path: str  # "{user}/media_publish"
    status_field: str  # "status_code" (Instagram) or "status" (Threads)


def wait_finished(graph: GraphClient, container: str, *, api: ContainerAPI, timeout: float) -> str:
    """Read the container's status until it leaves IN_PROGRESS, ``timeout`` seconds at most;
    the final status (FINISHED, PUBLISHED or EXPIRED). ERROR is a ``PermanentError``."""
    deadline = time.monotonic() + timeout
    pause = POLL_FIRST
    while True:
        answer = graph.call(
            "GET",
            container,
            what="read the media container's status",
            params={"fields": f"id,{api.status_field},error_message"},
        )
        status = str(answer.get(api.status_field) or "")
        if status == "ERROR":
            said = answer.get("error_message") or "no reason given"
            raise PermanentError(
                f"{api.title} could not prepare the media ({said}); check that every image is"
                " served at its media_url address as a JPEG"
            )
        if status and status != "IN_PROGRESS":
            return status
        if time.monotonic() + pause > deadline:
            raise TransientError(
                f"{api.title} was still preparing the media after {timeout:g} s; the container"
                " is kept and used on the next attempt"
            )
        time.sleep(pause)
        pause = min(pause * 2, POLL_MOST)


def publish_once(
    graph: GraphClient,
    *,
    api: ContainerAPI,
    pending: Pending,
    key: str,
    content: Mapping[str, Any],
    create: Callable[[], str],
    timeout: float,
) -> str | None:
    """Publish ``content`` through a container: the kept one for ``key`` if it still holds the
    same content and can be published, else a new one from ``create()``. The new post's id;
    None when the kept container was already published (the caller's ``find`` has the post)."""
    content_hash = fingerprint(content)
    container = pending.get(key, content=content_hash)
    status = None
    if container is not None:
        status = wait_finished(graph, container, api=api, timeout=timeout)
        if status == "PUBLISHED":
            pending.forget(key)
            return None
        if status != "FINISHED":  # EXPIRED: Meta dropped it
            container = None
    if container is None:
        container = create()
        pending.remember(key, content=content_hash, container=container)
        status = wait_finished(graph, container, api=api, timeout=timeout)
    answer = graph.call(
        "POST", api.publish_path, what="publish the post", data={"creation_id": container}
    )
    if not answer.get("id"):
        raise TransientError(f"{api.title} published the post but returned no id")
    pending.forget(key)
    return str(answer["id"])
