"""`klapper inbox reply ID`: answer an inbox item on its platform, exactly once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from klapper.cli.app import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    FormatOption,
    LedgerOption,
    OutputFormat,
    RepoOption,
    StateOption,
    stdout_console,
)
from klapper.cli.engagement import inbox_app
from klapper.cli.engine import LogFormat, LogFormatOption, _engine
from klapper.queue.replies import SavedReplyError
from klapper.scheduler.manual import Refused
from klapper.scheduler.reply import (
    ReplyResult,
    Unanswerable,
    answer_text,
    find_item,
    send_reply,
)


@inbox_app.command("reply")
def inbox_reply(
    item: Annotated[str, typer.Argument(help="The id `klapper inbox` shows (i...).")],
    text: Annotated[str | None, typer.Option("--text", "-t", help="The answer.")] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", dir_okay=False, help="The answer from a file (UTF-8)."),
    ] = None,
    saved: Annotated[
        str | None,
        typer.Option(
            "--saved", "-s", help="A saved reply's name (replies/*.yaml), filled in for the item."
        ),
    ] = None,
    again: Annotated[
        bool,
        typer.Option("--again", help="Answer an item that was answered already, once more."),
    ] = False,
    repo: RepoOption = Path("."),
    state: StateOption = None,
    url: LedgerOption = None,
    format: FormatOption = OutputFormat.text,  # noqa: A002 - the option is --format
    log_format: LogFormatOption = LogFormat.text,
) -> None:
    """Answer one inbox item on its platform, as a reply to it (a review reply on Google).

    The answer goes out once: run the same command again and it says the item was answered,
    with the link, whatever happened in between (a crash, a timeout). Exit 0 when the answer
    is on the platform (now or before), 1 when it could not be sent, 2 for a wrong call.
    """
    if sum(given is not None for given in (text, file, saved)) != 1:
        typer.echo("error: give the answer as one of --text, --file or --saved", err=True)
        raise typer.Exit(EXIT_USAGE)
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            typer.echo(f"error: --file {file}: cannot read it as UTF-8 text ({exc})", err=True)
            raise typer.Exit(EXIT_USAGE) from exc
    with _engine(repo, state, url, log_format) as engine:
        try:
            found = find_item(engine, item)
        except Refused as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_USAGE) from exc
        try:
            answer = answer_text(engine, found, text=text, saved=saved)
            result = send_reply(engine, found, text=answer, saved=saved, again=again)
        except (SavedReplyError, Unanswerable) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_FAILED) from exc
    if format is OutputFormat.json:
        typer.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:
        _print(result)
    raise typer.Exit(EXIT_OK if result.ok else EXIT_FAILED)


def _print(result: ReplyResult) -> None:
    where = escape(result.delivery.url or result.delivery.remote_id or "")
    who = f"{escape(result.item.author)} on {escape(result.item.account)}"
    console = stdout_console()
    if result.already:
        console.print(f"already answered: {result.item.id} ({who}): {where}")
    elif result.ok:
        console.print(f"answered {result.item.id} ({who}): {where}")
    else:
        state = result.delivery.state.value
        retry = result.delivery.retry_at
        console.print(
            f"not sent ({state}): {escape(result.note or result.delivery.reason or 'see the log')}"
            + (
                f"; the daemon tries again after {retry:%H:%M} UTC, or run this command again"
                if retry
                else "; run this command again once fixed"
            )
        )
