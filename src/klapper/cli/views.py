"""What `check`, `plan` and `preview` read: the content repository, and the ledger's view of it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from klapper.cli.app import EXIT_FAILED, EXIT_USAGE
from klapper.display import shown
from klapper.ledger import Ledger, state_dir
from klapper.queue import Repository, load_repository

__all__ = ["ledger_view", "open_repository"]


def open_repository(*, repo: Path) -> Repository:
    """The content repository at ``--repo``; exits with one line when there is no such folder."""
    if not repo.is_dir():
        typer.echo(f"error: --repo {shown(str(repo))}: no such folder", err=True)
        raise typer.Exit(EXIT_USAGE)
    return load_repository(repo)


@contextmanager
def ledger_view(
    *,
    state: Path | None,
    url: str | None,
) -> Iterator[tuple[Callable[[str], bool] | None, dict[str, Any], Ledger | None]]:
    """What the ledger knows, if there is one (never created here): published posts, slots."""
    from klapper.ledger import ON_PLATFORM
    from klapper.ledger.faults import StateError
    from klapper.ledger.store import LEDGER_FILE

    folder = state_dir(state)
    if url is None and not (folder / LEDGER_FILE).is_file():
        yield None, {}, None
        return
    try:
        ledger = Ledger.open(state=folder, url=url)
    except StateError as exc:  # a shared ledger that cannot be reached: one line
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from exc
    try:

        def published(post_id: str) -> bool:
            return any(d.state in ON_PLATFORM for d in ledger.for_post(post_id))

        yield published, dict(ledger.slots()), ledger
    finally:
        ledger.close()
