"""`klapper ledger rebuild`: put back what the event log says, after the ledger was lost."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from klapper.cli.app import (
    EXIT_FAILED,
    EXIT_USAGE,
    LedgerOption,
    RepoOption,
    StateOption,
    app,
    examples,
)
from klapper.config.load import CONFIG_FILE, ConfigError, load_config
from klapper.ledger import Ledger, event_log_path, read_events, state_dir
from klapper.ledger.faults import StateError
from klapper.ledger.rebuild import rebuild

ledger_app = typer.Typer(
    help="The ledger in the state folder: rebuild it from the event log.",
    no_args_is_help=True,
    epilog=examples("klapper ledger rebuild --state /var/lib/klapper"),
)
app.add_typer(ledger_app, name="ledger")


@ledger_app.command(
    name="rebuild",
    epilog=examples(
        "klapper ledger rebuild",
        "mv ~/.local/state/klapper/ledger.sqlite3 ~/ledger.damaged && klapper ledger rebuild",
    ),
)
def rebuild_command(
    repo: RepoOption = Path("."), state: StateOption = None, url: LedgerOption = None
) -> None:
    """Put back every delivery the event log lists and the ledger lacks; exit 1 on a fault.

    Published ones are never posted again; ones whose outcome the log leaves open are looked
    for on the platform before anything is posted. Rows the ledger has are kept as they are.
    klapper does this by itself when it finds an empty ledger next to a non-empty event log.
    """
    folder = state_dir(state)
    configured = None
    if (repo / CONFIG_FILE).is_file():
        try:
            configured = load_config(repo).paths.log
        except ConfigError as exc:
            typer.echo(f"error: {CONFIG_FILE}: {exc}", err=True)
            raise typer.Exit(EXIT_USAGE) from exc
    log_path = event_log_path(state=folder, configured=configured)
    events = read_events(log_path)
    if not events:
        typer.echo(
            f"error: {log_path}: no events to rebuild from (pass --state DIR, or --repo"
            " DIR when klapper.yaml sets paths.log)",
            err=True,
        )
        raise typer.Exit(EXIT_FAILED)
    try:
        ledger = Ledger.open(state=folder, url=url)
        try:
            report = rebuild(ledger, events=events, now=datetime.now(UTC), only_if_empty=False)
        finally:
            ledger.close()
    except StateError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from exc
    assert report is not None
    restored = ", ".join(f"{n} {name}" for name, n in sorted(report.restored.items()))
    typer.echo(
        f"rebuilt {report.total} deliveries from {log_path}: {restored or 'none'};"
        f" {report.kept} were in the ledger already"
    )
    if report.paused:
        typer.echo(
            f"paused accounts: {', '.join(report.paused)} (`klapper retry --account` resumes one)"
        )
    typer.echo("unknown ones are looked for on the platform before anything is posted")
