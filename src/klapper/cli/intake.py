"""`klapper import csv`: another tool's bulk-scheduling file -> post files under posts/imported/."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from klapper.cli.app import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    OutputFormat,
    RepoOption,
    StateOption,
    app,
    examples,
    stdout_console,
)
from klapper.config.load import ConfigError, load_config
from klapper.display import shown
from klapper.intake import ImportResult, IntakeError, IntakeUsageError, import_csv
from klapper.ledger import state_dir
from klapper.queue import announced_rules

import_app = typer.Typer(
    help="Turn content kept elsewhere into post files: another tool's bulk-scheduling CSV.",
    no_args_is_help=True,
    epilog=examples("klapper import csv export.csv --format hootsuite --to shop-mastodon"),
)
app.add_typer(import_app, name="import")


class CsvFormat(StrEnum):
    hootsuite = "hootsuite"
    publer = "publer"
    socialbee = "socialbee"
    buffer = "buffer"


@import_app.command(name="csv", epilog=examples(
    "klapper import csv hootsuite.csv --format hootsuite --date-format 'dd/mm/yyyy hh:mm'",
    "klapper import csv publer.csv --format publer --to shop-mastodon,shop-bluesky",
    "klapper import csv buffer.csv --format buffer --output json | jq '.refused'",
))
def import_csv_command(
    file: Annotated[Path, typer.Argument(help="The CSV file, as the other tool takes it.")],
    fmt: Annotated[CsvFormat, typer.Option(
        "--format", help="Which tool's file this is (its documented columns).")],
    to: Annotated[str | None, typer.Option(
        "--to", help="Accounts, comma-separated, instead of defaults › to.")] = None,
    date_format: Annotated[str | None, typer.Option(
        "--date-format", help="How the dates are written: a strftime format ('%d/%m/%Y %H:%M') "
        "or Hootsuite's 'dd/mm/yyyy hh:mm'. Hootsuite's default: 'mm/dd/yyyy hh:mm'.")] = None,
    output: Annotated[OutputFormat, typer.Option(
        "--output", "-o", help="text for people, json for scripts (--format names the tool).",
    )] = OutputFormat.text,
    repo: RepoOption = Path("."),
    state: StateOption = None,
) -> None:
    """Write one post file per row under posts/imported/; exit 1 if any row was refused.

    Every row is checked like `klapper check`; a refused row is named by its line, with the
    reason, and the good rows are written. Importing the same file again writes nothing twice.
    """
    accounts = tuple(a.strip() for a in to.split(",") if a.strip()) if to else None
    try:
        rules = announced_rules(load_config(repo), cache_dir=state_dir(state))
    except ConfigError:  # import_csv says what is wrong with it
        rules = None
    try:
        result = import_csv(repo=repo, csv_file=file, fmt=fmt.value, to=accounts,
                            date_format_option=date_format, now=datetime.now(UTC), rules=rules)
    except IntakeError as exc:
        typer.echo(f"error: {exc}", err=True)
        code = EXIT_USAGE if isinstance(exc, IntakeUsageError) else EXIT_FAILED
        raise typer.Exit(code) from None
    if output is OutputFormat.json:
        typer.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:
        _print(result, shown(str(file)))
    raise typer.Exit(EXIT_FAILED if result.refused else EXIT_OK)


def _print(result: ImportResult, name: str) -> None:
    console = stdout_console()
    for o in result.written:
        console.print(f"[green]wrote[/green] {escape(o.file or '')}  (line {o.line})")
        for warning in o.warnings:
            console.print(f"  [yellow]warning[/yellow] {escape(warning)}")
    for o in result.refused:
        console.print(f"{escape(name)}:{o.line}: [red]refused[/red] {escape(o.reason or '')}")
    console.print(f"{len(result.written)} written, {len(result.skipped)} imported before, "
                  f"{len(result.refused)} refused")
