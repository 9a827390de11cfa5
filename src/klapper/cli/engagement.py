"""Engagement commands: `klapper refresh`, `klapper inbox [done ID]`, `klapper report`."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime, tzinfo
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from klapper.cli.app import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    FormatOption,
    LedgerOption,
    OutputFormat,
    RepoOption,
    StateOption,
    app,
    examples,
    progress_bar,
    stdout_console,
)
from klapper.config.load import CONFIG_FILE, ConfigError, load_config
from klapper.config.model import Config, parse_duration
from klapper.engagement.html import render_html
from klapper.engagement.render import print_inbox, print_report, report_csv
from klapper.engagement.report import build_report
from klapper.engagement.service import Engagement
from klapper.engagement.store import EngagementStore
from klapper.ledger import EventLog, Ledger, event_log_path, state_dir
from klapper.ledger.faults import StateError
from klapper.ledger.store import LEDGER_FILE
from klapper.queue import load_repository
from klapper.queue.campaign import SentTags
from klapper.scheduler.accounts import AccountAdapters
from klapper.scheduler.logs import setup_logging


class ReportFormat(str, Enum):
    text = "text"
    json = "json"
    csv = "csv"


def _config(repo: Path, *, required: bool) -> Config | None:
    """klapper.yaml, or None when it is absent and not ``required``; exits on errors."""
    if not (repo / CONFIG_FILE).is_file() and not required:
        return None
    try:
        return load_config(repo)
    except ConfigError as exc:
        typer.echo(f"error: {CONFIG_FILE}: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc


def _sent_tags(repo: Path, config: Config | None) -> SentTags | None:
    """The campaign tags each delivery's links were sent with (visits are matched by them);
    None without klapper.yaml's analytics (no visits to match)."""
    if config is None or config.analytics is None:
        return None
    return SentTags(config=config, posts={p.id: p for p in load_repository(repo).posts})


def _open_ledger(state: Path | None, url: str | None) -> Ledger:
    folder = state_dir(state)
    if url is None and not (folder / LEDGER_FILE).exists():
        typer.echo(
            f"error: no ledger in {folder}: nothing was published from there yet "
            "(pass --state DIR, or set KLAPPER_STATE, as for `klapper run`)",
            err=True,
        )
        raise typer.Exit(EXIT_USAGE)
    try:
        return Ledger.open(state=folder, url=url)
    except StateError as exc:  # a shared ledger that cannot be reached: one line
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from exc


def _local_zone(config: Config | None) -> tzinfo | None:
    return config.tz if config is not None else None  # None: the machine's local time


@app.command(epilog=examples("klapper refresh", "klapper refresh --now"))
def refresh(
    repo: RepoOption = Path("."),
    state: StateOption = None,
    url: LedgerOption = None,
    now: Annotated[
        bool,
        typer.Option(
            "--now",
            help="Read every post still inside its polling window and the inbox now, "
            "not only what the schedule says is due (within the budget).",
        ),
    ] = False,
) -> None:
    """Read the reactions and replies that are due now (one round), then exit.

    The daemon (`klapper run`) does this by itself; use this from cron next to
    `klapper publish --due`. `--now` is for a person who wants to look now: one reading of
    each post still being polled; the schedule carries on as before. Exit 1 when an account
    could not be read.
    """
    redaction = setup_logging(level=logging.WARNING)  # the result is printed on stdout
    config = _config(repo, required=True)
    assert config is not None
    folder = state_dir(state)
    ledger = _open_ledger(state, url) if url else Ledger.open(state=folder)
    events = EventLog(event_log_path(state=folder, configured=config.paths.log))
    ledger.attach(events)
    adapters = AccountAdapters(config=config, repo=repo, state=folder, on_secrets=redaction.add)
    try:
        service = Engagement(
            ledger=ledger,
            events=events,
            config=config,
            adapters=adapters,
            on_secrets=redaction.add,
            tags=_sent_tags(repo, config),
        )
        with progress_bar("reading reactions") as progress:
            report = service.round(progress=progress, look_now=now)
    finally:
        adapters.close()
        events.close()
        ledger.close()
    accounts = {r.account for r in report.readings}
    typer.echo(
        f"{len(report.readings)} readings from {len(accounts)} account(s) in "
        f"{report.requests} request(s); {len(report.new_items)} new in the inbox"
        + (" (see `klapper inbox`)" if report.new_items else "")
    )
    if report.left:
        typer.echo(f"{report.left} readings left for a later round")
    for account, why in sorted(report.why.items()):
        until = report.waiting.get(account)
        local = (
            f"; reading again after {until.astimezone(config.tz):%Y-%m-%d %H:%M %Z}"
            if until
            else ""
        )
        typer.echo(f"{account}: {why}{local}", err=True)
    visits = report.visits
    if visits is not None:
        typer.echo(
            f"visits: {visits.readings} readings from {visits.tool} in {visits.requests} "
            f"request(s), {visits.rows} rows new or changed"
        )
        if visits.why:
            typer.echo(f"{visits.tool}: {visits.why}", err=True)
    failed = report.errors or (visits is not None and visits.error)
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


inbox_app = typer.Typer(
    help="Replies and mentions that wait for an answer.",
    invoke_without_command=True,
    no_args_is_help=False,
    epilog=examples(
        "klapper inbox", "klapper inbox --format json", "klapper inbox done i3f9c01a2b4"
    ),
)
app.add_typer(inbox_app, name="inbox")


@inbox_app.callback(invoke_without_command=True)
def inbox(
    ctx: typer.Context,
    repo: RepoOption = Path("."),
    state: StateOption = None,
    url: LedgerOption = None,
    format: FormatOption = OutputFormat.text,  # noqa: A002 - the option is --format
) -> None:
    """List unanswered replies and mentions, newest first, with the link to answer each.

    Questions and complaints are marked. A reply the account answered on the platform leaves
    the list by itself; `klapper inbox done ID` removes one by hand. `klapper refresh` (or the
    daemon) reads new ones.
    """
    if ctx.invoked_subcommand is not None:
        return
    config = _config(repo, required=False)
    ledger = _open_ledger(state, url)
    try:
        items = EngagementStore(ledger).inbox_items(open_only=True)
    finally:
        ledger.close()
    if format is OutputFormat.json:
        typer.echo(json.dumps([item.to_json() for item in items], indent=2, ensure_ascii=False))
        return
    print_inbox(stdout_console(), items, _local_zone(config))


@inbox_app.command("done")
def inbox_done(
    item: Annotated[str, typer.Argument(help="The id `klapper inbox` shows (i...).")],
    state: StateOption = None,
    url: LedgerOption = None,
) -> None:
    """Mark one reply or mention as handled."""
    ledger = _open_ledger(state, url)
    try:
        done = EngagementStore(ledger).mark_done(item, now=datetime.now(UTC))
    finally:
        ledger.close()
    if done is None:
        typer.echo(f"error: no inbox item {item!r}; `klapper inbox` lists the ids", err=True)
        raise typer.Exit(EXIT_FAILED)
    typer.echo(f"done: {done.id} ({done.kind} from {done.author})")


@app.command(
    epilog=examples(
        "klapper report --since 7d",
        "klapper report --format csv > posts.csv",
        "klapper report --html report.html",
    )
)
def report(
    since: Annotated[
        str,
        typer.Option(
            "--since", help="Posts published within this long before now: 7d, 30d, 12w ..."
        ),
    ] = "30d",
    format: Annotated[  # noqa: A002 - the option is --format
        ReportFormat | None,
        typer.Option("--format", "-f", help="text (default), json, or csv (one row per post)."),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html", dir_okay=False, help="Also write a self-contained HTML report with charts."
        ),
    ] = None,
    repo: RepoOption = Path("."),
    state: StateOption = None,
    url: LedgerOption = None,
) -> None:
    """Reach and reactions per account and platform, top posts, best weekdays and hours."""
    try:
        span = parse_duration(since)
    except ValueError as exc:
        typer.echo(f"error: --since: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc
    config = _config(repo, required=False)
    tz = _local_zone(config) or datetime.now().astimezone().tzinfo
    assert tz is not None
    now = datetime.now(UTC)
    ledger = _open_ledger(state, url)
    try:
        platforms = (
            {name: a.platform for name, a in config.accounts.items()} if config is not None else {}
        )
        figures = build_report(
            ledger=ledger,
            since=now - span,
            until=now,
            tz=tz,
            platforms=platforms,
            config=config,
            tags=_sent_tags(repo, config),
        )
    finally:
        ledger.close()
    if html is not None:
        html.write_text(render_html(figures, generated=now), encoding="utf-8")
        typer.echo(f"wrote {html}", err=format is not None)
        if format is None:
            return
    if format is ReportFormat.json:
        typer.echo(json.dumps(figures.to_json(), indent=2, ensure_ascii=False))
    elif format is ReportFormat.csv:
        sys.stdout.write(report_csv(figures))
    else:
        print_report(stdout_console(), figures)
