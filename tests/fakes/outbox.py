"""The outbox's case for the contract suite: an OutboxAdapter writing into a temporary folder."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from klapper.adapters.base import Interaction
from klapper.adapters.outbox import OutboxAdapter


@dataclass
class Case:
    """The outbox folder is the "server": each JSON file in it is a post it holds."""

    adapter: OutboxAdapter
    lacks: dict[str, str] = field(
        default_factory=lambda: {
            "faults": "the outbox writes files on this machine; no server answers with HTTP errors",
            "metrics": "nobody reads the outbox, so there is nothing to count",
            "interactions": "nobody reads the outbox, so nobody answers",
        }
    )

    def posts(self) -> list[dict[str, Any]]:
        held = []
        for path in sorted(self.adapter.folder.glob("*.json")):
            record = json.loads(path.read_text(encoding="utf-8"))
            held.append({"id": path.name, "text": record["text"], "reply_to": record["reply_to"]})
        return held

    def fail_next(self, kind: str) -> None:
        raise AssertionError(f"the outbox has no faults ({kind}); the case says it lacks them")

    def reply(self, *, to: str, text: str) -> None:
        raise AssertionError("nobody answers the outbox; the case says it lacks interactions")

    def incoming(self, text: str) -> Interaction:
        """An item as if someone had answered (the outbox writes the answer to it as a file)."""
        return Interaction(
            remote_id=f"someone-{uuid.uuid4().hex[:8]}",
            kind="mention",
            author="@anna",
            text=text,
            url=None,
            created_at=datetime.now(UTC),
        )


@contextlib.contextmanager
def adapter_case(tmp_path: Path) -> Iterator[Case]:
    """An outbox account writing to ``tmp_path/outbox``."""
    adapter = OutboxAdapter(name="outbox", settings={}, secrets={}, repo=tmp_path)
    try:
        yield Case(adapter=adapter)
    finally:
        adapter.close()
