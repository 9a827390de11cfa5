"""`klapper import csv` and `klapper import feed`: content from elsewhere -> posts/imported/."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from klapper.adapters.base import Rules
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
from klapper.intake.feed import import_feed
from klapper.intake.feeds import commit_message
from klapper.intake.gitbranch import Target, import_target
from klapper.ledger import state_dir
from klapper.queue import announced_rules

import_app = typer.Typer(
    help="Turn content kept elsewhere into post files: another tool's CSV, a blog's feed.",
    no_args_is_help=True,
    epilog=examples(
        "klapper import csv export.csv --format hootsuite --to shop-mastodon",
        "klapper import feed https://example.com/blog/feed.xml",
    ),
)
app.add_typer(import_app, name="import")


GitBranchOption = Annotated[
    str | None,
    typer.Option(
        "--git-branch",
        help="Commit the new files on this branch of the content repository (made from "
        "HEAD if missing; never pushed) instead of writing them into the working tree.",
    ),
]


class CsvFormat(StrEnum):
    hootsuite = "hootsuite"
    publer = "publer"
    socialbee = "socialbee"
    buffer = "buffer"


@import_app.command(
    name="csv",
    epilog=examples(
        "klapper import csv hootsuite.csv --format hootsuite --date-format 'dd/mm/yyyy hh:mm'",
        "klapper import csv publer.csv --format publer --to shop-mastodon,shop-bluesky",
        "klapper import csv buffer.csv --format buffer --output json | jq '.refused'",
    ),
)
def import_csv_command(
    file: Annotated[Path, typer.Argument(help="The CSV file, as the other tool takes it.")],
    fmt: Annotated[
        CsvFormat,
        typer.Option("--format", help="Which tool's file this is (its documented columns)."),
    ],
    to: Annotated[
        str | None,
        typer.Option("--to", help="Accounts, comma-separated, instead of defaults › to."),
    ] = None,
    date_format: Annotated[
        str | None,
        typer.Option(
            "--date-format",
            help="How the dates are written: a strftime format ('%d/%m/%Y %H:%M') "
            "or Hootsuite's 'dd/mm/yyyy hh:mm'. Hootsuite's default: 'mm/dd/yyyy hh:mm'.",
        ),
    ] = None,
    output: Annotated[
        OutputFormat,
        typer.Option(
            "--output",
            "-o",
            help="text for people, json for scripts (--format names the tool).",
        ),
    ] = OutputFormat.text,
    git_branch: GitBranchOption = None,
    repo: RepoOption = Path("."),
    state: StateOption = None,
) -> None:
    """Write one post file per row under posts/imported/; exit 1 if any row was refused.

    Every row is checked like `klapper check`; a refused row is named by its line, with the
    reason, and the good rows are written. Importing the same file again writes nothing twice.
    """
    accounts = _accounts(to)
    _report(
        lambda rules, target: import_csv(
            repo=target.root,
            csv_file=file,
            fmt=fmt.value,
            to=accounts,
            date_format_option=date_format,
            now=datetime.now(UTC),
            rules=rules,
        ),
        repo=repo,
        git_branch=git_branch,
        state=state,
        output=output,
        name=shown(str(file)),
    )


@import_app.command(
    name="feed",
    epilog=examples(
        "klapper import feed https://example.com/blog/feed.xml",
        "klapper import feed https://example.com/atom.xml --to shop-mastodon --template feed.yaml",
    ),
)
def import_feed_command(
    url: Annotated[str, typer.Argument(help="The RSS or Atom feed's URL.")],
    to: Annotated[
        str | None,
        typer.Option("--to", help="Accounts, comma-separated, instead of defaults › to."),
    ] = None,
    template: Annotated[
        Path | None,
        typer.Option(
            "--template",
            dir_okay=False,
            help="A post file with {title}, {link}, {summary}, "
            "{hashtags}; `draft: true` in it makes drafts. Default: title, link, hashtags.",
        ),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--output", "-o", help="text for people, json for scripts.")
    ] = OutputFormat.text,
    git_branch: GitBranchOption = None,
    repo: RepoOption = Path("."),
    state: StateOption = None,
) -> None:
    """Write a post file for each new entry of a feed, into the next free posting slots.

    The entries imported are remembered in the state folder: a second import writes nothing.
    Exit 1 if an entry was refused (it is tried again next time).
    """
    accounts = _accounts(to)
    _report(
        lambda rules, target: import_feed(
            repo=target.root,
            url=url,
            state=state_dir(state),
            now=datetime.now(UTC),
            to=accounts,
            template=template,
            rules=rules,
            finish=lambda result: target.commit(message=commit_message(url, result)),
        ),
        repo=repo,
        git_branch=git_branch,
        state=state,
        output=output,
        name=url,
    )


def _accounts(to: str | None) -> tuple[str, ...] | None:
    return tuple(a.strip() for a in to.split(",") if a.strip()) if to else None


def _report(
    run: Callable[[dict[str, Rules] | None, Target], ImportResult],
    *,
    repo: Path,
    git_branch: str | None,
    state: Path | None,
    output: OutputFormat,
    name: str,
) -> None:
    """Run an import with the limits `klapper check` uses, print what became of each item."""
    try:
        rules: dict[str, Rules] | None = announced_rules(
            load_config(repo), cache_dir=state_dir(state)
        )
    except ConfigError:  # the import says what is wrong with it
        rules = None
    try:
        with import_target(repo=repo, branch=git_branch) as target:
            result = run(rules, target)
            target.commit(message=commit_message(name, result))  # a feed's is made already
    except IntakeError as exc:
        typer.echo(f"error: {exc}", err=True)
        code = EXIT_USAGE if isinstance(exc, IntakeUsageError) else EXIT_FAILED
        raise typer.Exit(code) from None
    if output is OutputFormat.json:
        data: dict[str, object] = dict(result.to_json())
        if git_branch is not None:
            data["git_branch"] = {"name": git_branch, "commits": target.commits}
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        _print(result, name)
        for commit in target.commits:
            stdout_console().print(f"committed {commit[:12]} on branch {escape(git_branch or '')}")
    raise typer.Exit(EXIT_FAILED if result.refused else EXIT_OK)


def _print(result: ImportResult, name: str) -> None:
    console = stdout_console()
    for o in result.written:
        where = f"line {o.line}" if o.line is not None else f"entry {o.entry}"
        console.print(f"[green]wrote[/green] {escape(o.file or '')}  ({escape(where)})")
        for warning in o.warnings:
            console.print(f"  [yellow]warning[/yellow] {escape(warning)}")
    for o in result.refused:
        where = f"{name}:{o.line}" if o.line is not None else f"{name} entry {o.entry}"
        console.print(f"{escape(where)}: [red]refused[/red] {escape(o.reason or '')}")
    console.print(
        f"{len(result.written)} written, {len(result.skipped)} imported before, "
        f"{len(result.refused)} refused"
    )
