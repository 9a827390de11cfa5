"""The typer application and the options every command shares."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.text import Text

from klapper import __version__
from klapper.display import shown

app = typer.Typer(
    name="klapper",
    help=(
        "Publish social-media posts kept as YAML files in a git repository, once and on time.\n\n"
        "Start with `klapper check` (is every post valid?), then `klapper plan` (what goes out "
        "when), then `klapper run` (the daemon) or `klapper publish --due` (from cron)."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


class SafeConsole(Console):
    """A console that never passes a control character through: every text it renders (lines,
    table cells, titles) has them escaped (display.shown; line breaks stay), so a file name
    or a server's message holding an escape sequence cannot rewrite the terminal."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(shown(text, keep="\n\t"), **kwargs)


def stdout_console() -> Console:
    """Where results go: a pipe or a CI log gets plain text, wide enough that nothing wraps."""
    return SafeConsole(highlight=False, width=None if sys.stdout.isatty() else 200)


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on a terminal, as ``advance(done, total)``; None (quiet) otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def examples(*command_lines: str) -> str:
    """A command's help epilog: example command lines, shown as they are typed."""
    return "**Examples**\n\n```text\n" + "\n".join(command_lines) + "\n```"


# Exit codes: 0 all good; 1 the command ran and found/failed something; 2 bad usage.
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

RepoOption = Annotated[
    Path,
    typer.Option(
        "--repo",
        envvar="KLAPPER_REPO",
        show_envvar=True,
        file_okay=False,
        help="The content repository (klapper.yaml and posts/). Default: the current folder.",
    ),
]
StateOption = Annotated[
    Path | None,
    typer.Option(
        "--state",
        envvar="KLAPPER_STATE",
        show_envvar=True,
        file_okay=False,
        help="Folder for the ledger and event log. Default: the XDG state folder.",
    ),
]


def _ledger_url(value: str | None) -> str | None:
    """A ``--ledger`` that is no PostgreSQL URL is bad usage (exit 2), named by its scheme only."""
    from klapper.ledger.url import is_postgres_url

    if value and not is_postgres_url(value):
        raise typer.BadParameter(
            f"{value.split(':', 1)[0]!r} is not a PostgreSQL URL: give"
            " postgresql://USER@HOST[:PORT]/DATABASE, or leave it out for SQLite in --state"
        )
    return value or None


LedgerOption = Annotated[
    str | None,
    typer.Option(
        "--ledger",
        envvar="KLAPPER_LEDGER",
        show_envvar=True,
        show_default=False,
        callback=_ledger_url,
        help=(
            "A ledger shared by several daemons: postgresql://USER@HOST/DATABASE (the password"
            " from PGPASSWORD or ~/.pgpass). Default: SQLite in the state folder."
        ),
    ),
]


class OutputFormat(str, Enum):
    text = "text"
    json = "json"


FormatOption = Annotated[
    OutputFormat,
    typer.Option("--format", "-f", help="text for people, json for scripts."),
]


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"klapper {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback(
    epilog=examples(
        "klapper check                # is every post valid, for every account?",
        "klapper plan --days 14       # what goes out when (local time and UTC)",
        "klapper preview --html p.html  # each post as each account will get it, a calendar",
        "klapper run                  # the daemon: publish each post at its time",
        "klapper publish --due        # from cron: everything due now, then exit",
        "klapper status               # published, failed, upcoming, paused",
        "klapper login shop-mastodon  # store an account's credentials",
        "klapper refresh --now        # read reactions and replies now",
        "klapper report --since 7d    # how people reacted",
        "klapper import csv FILE --format hootsuite  # another tool's posts as post files",
        "klapper COMMAND --help       # each command, with its own examples",
    )
)
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print klapper's version and exit.",
        ),
    ] = False,
) -> None:
    # The help text is the app's; this only adds the options that come before a command.
    pass
