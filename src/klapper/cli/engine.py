"""Engine commands: `klapper run`, `publish`, `status`, `retry`, `skip`."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, tzinfo
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

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
from klapper.config.expiry import expiring_credentials
from klapper.config.load import CONFIG_FILE
from klapper.ledger import Delivery, state_dir
from klapper.ledger.faults import StateError
from klapper.scheduler.credentials import missing_credentials
from klapper.scheduler.engine import Engine
from klapper.scheduler.evergreen import evergreen_label
from klapper.scheduler.feed_timer import read_feeds
from klapper.scheduler.logs import setup_logging
from klapper.scheduler.manual import Refused, Result, publish_post, retry, skip
from klapper.scheduler.publisher import Outcome, summarize
from klapper.scheduler.status import Status, collect_status
from klapper.scheduler.sync import RepositoryBroken
from klapper.scheduler.unsent import unsent


class LogFormat(str, Enum):
    text = "text"
    json = "json"


LogFormatOption = Annotated[
    LogFormat, typer.Option("--log-format", help="Logs on stderr: text for people, json.")
]
AccountOption = Annotated[
    str | None, typer.Option("--account", "-a", help="Only this account (a name in klapper.yaml).")
]


def _require_config(repo: Path) -> None:
    if not (repo / CONFIG_FILE).is_file():
        typer.echo(
            f"error: no {CONFIG_FILE} in {repo.resolve()}; pass --repo DIR (or set KLAPPER_REPO)",
            err=True,
        )
        raise typer.Exit(EXIT_USAGE)


@contextmanager
def _engine(
    repo: Path,
    state: Path | None,
    url: str | None,
    log_format: LogFormat,
    *,
    load: bool = True,
    publishes: bool = True,
) -> Iterator[Engine]:
    """An engine on ``repo`` and the state folder, synced with the repository first.

    One-shot commands print their results on stdout, so text logs show only warnings and
    errors (no line twice); JSON logs, read by machines, keep everything. A command that
    ``publishes`` holds the repository for its state folder (a second ledger is refused).
    A fault of the state folder (damaged ledger, read-only, disk full) is one line, exit 1.
    """
    level = logging.INFO if log_format is LogFormat.json else logging.WARNING
    redaction = setup_logging(log_format=log_format.value, level=level)
    if load:
        _require_config(repo)
    with _state_faults():
        engine = Engine(
            repo=repo,
            state=state_dir(state),
            ledger=url,
            on_secrets=redaction.add,
            hold_repository=publishes and load,
        )
        try:
            if load:
                try:
                    engine.reload()
                except RepositoryBroken as exc:
                    typer.echo(f"error: {exc}", err=True)
                    raise typer.Exit(EXIT_FAILED) from exc
                engine.recover()
            yield engine
        except Refused as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_FAILED) from exc
        finally:
            engine.close()


@contextmanager
def _state_faults() -> Iterator[None]:
    """A ``StateError`` (which names the file and what to do) as one line on stderr, exit 1."""
    try:
        yield
    except StateError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from exc


def _local(moment: datetime | None, tz: tzinfo | None) -> str:
    return moment.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z") if moment else "-"


@app.command(
    epilog=examples(
        "klapper run --repo /srv/posts --state /var/lib/klapper",
        "systemctl reload klapper           # SIGHUP: re-read the posts now",
    )
)
def run(
    repo: RepoOption = Path("."),
    state: StateOption = None,
    url: LedgerOption = None,
    log_format: LogFormatOption = LogFormat.text,
) -> None:
    """Run the daemon: publish every post at its time, pick up changes, until stopped."""
    from klapper.scheduler.daemon import Daemon

    redaction = setup_logging(log_format=log_format.value)
    _require_config(repo)
    with _state_faults():
        engine = Engine(
            repo=repo,
            state=state_dir(state),
            ledger=url,
            on_secrets=redaction.add,
            watched=True,
        )
        code = Daemon(engine).run()
    raise typer.Exit(code)


@app.command(
    epilog=examples(
        "klapper publish --due                  # from cron or a systemd timer",
        "klapper publish posts/launch.yaml --now --account shop-mastodon",
    )
)
def publish(
    post: Annotated[str | None, typer.Argument(help="A post id (see `klapper plan`).")] = None,
    due: Annotated[bool, typer.Option("--due", help="Everything due now, then exit.")] = False,
    account: AccountOption = None,
    now: Annotated[bool, typer.Option("--now", help="POST: publish even before its time.")] = False,
    repo: RepoOption = Path("."),
    state: StateOption = None,
    url: LedgerOption = None,
    log_format: LogFormatOption = LogFormat.text,
) -> None:
    """Publish what is due (--due, for cron and timers) or one post; exit 1 if any failed.

    --due exits 1 too when a due delivery did not go out (its file has errors, its account is
    paused or rate limited, `klapper check` holds it), and says why for each.
    """
    if due == (post is not None):
        typer.echo("error: give either --due or a POST id", err=True)
        raise typer.Exit(EXIT_USAGE)
    console = stdout_console()
    with _engine(repo, state, url, log_format) as engine:
        assert engine.publisher is not None
        if due:
            _read_feeds(engine)
        tz = engine.config.tz
        if post is not None:
            results = publish_post(engine, post, account=account, now=now)
            _print_results(console, results, tz)
            raise typer.Exit(EXIT_OK if all(r.ok for r in results) else EXIT_FAILED)
        with progress_bar("publishing") as progress:
            outcomes = engine.publisher.publish_due(progress=progress)
        raise typer.Exit(_report_batch(console, engine, outcomes))


def _read_feeds(engine: Engine) -> None:
    """klapper.yaml's feeds that are due, then plan again if they brought posts (they join
    this batch's slots). A feed's fault is logged as one line naming klapper.yaml's line and
    does not change the exit code: publishing goes on."""
    runs = read_feeds(
        repo=engine.repo, state=engine.state, config=engine.config, now=engine.clock()
    )
    if any(run.result and run.result.written and not run.commit for run in runs):
        engine.reload()


def _report_batch(console: Console, engine: Engine, outcomes: list[Outcome]) -> int:
    """Print each outcome and each due delivery left unsent with why; the exit code."""
    assert engine.repository is not None and engine.publisher is not None
    left = unsent(
        ledger=engine.ledger,
        now=engine.clock(),
        config=engine.config,
        posts=engine.publisher.posts,
        problems=engine.repository.problems,
        handled=[o.delivery.id for o in outcomes],
        tz=engine.config.tz,
    )
    held = _held(engine, [o.delivery for o in outcomes if o.event == "held"])
    lines = [
        (o.event, o.delivery, held.get(o.delivery.id) or o.delivery.url or o.delivery.reason)
        for o in outcomes
    ]
    lines += [(u.event, u.delivery, u.reason) for u in left]
    for event, d, detail in lines:
        console.print(
            f"{event:<9} {escape(d.post_id)} -> {escape(d.account)}  {escape(detail or '')}"
        )
    counts = summarize(outcomes)
    failed = bool(set(counts) - {"published"}) or any(u.fails for u in left)
    for u in left:
        counts[u.event] = counts.get(u.event, 0) + 1
    console.print(", ".join(f"{n} {event}" for event, n in sorted(counts.items())) or "nothing due")
    return EXIT_FAILED if failed else EXIT_OK


def _print_results(console: Console, results: list[Result], tz: tzinfo) -> None:
    for result in results:
        d = result.delivery
        what = result.outcome.event if result.outcome else d.state.value
        detail = result.note or d.url or d.reason or ""
        console.print(
            f"{what:<9} {d.id} {escape(d.post_id)} -> {escape(d.account)}  {escape(detail)}"
        )


@app.command(epilog=examples("klapper status", 'klapper status --format json | jq ".failed"'))
def status(
    repo: RepoOption = Path("."),
    state: StateOption = None,
    url: LedgerOption = None,
    format: FormatOption = OutputFormat.text,  # noqa: A002 - the option's name
    log_format: LogFormatOption = LogFormat.text,
) -> None:
    """Upcoming, recent, failed, unknown and missed deliveries, and paused accounts."""
    load = (repo / CONFIG_FILE).is_file()  # without a repository: the ledger alone
    with _engine(repo, state, url, log_format, load=load, publishes=False) as engine:
        tz = engine.config.tz if load else None
        paused = [name for name, a in engine.config.accounts.items() if a.paused] if load else []
        report = collect_status(ledger=engine.ledger, now=engine.clock(), config_paused=paused)
        if load:
            report.expiring.extend(
                expiring_credentials(accounts=engine.config.accounts, now=engine.clock())
            )
            report.held.update(_held(engine, report.upcoming + report.unknown))
            report.no_credentials.update(missing_credentials(engine.config))
    if format is OutputFormat.json:
        typer.echo(
            json.dumps(
                {**report.to_json(), "attention": report.needs_attention},
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    _print_status(stdout_console(), report, tz)


def _held(engine: Engine, upcoming: list[Delivery]) -> dict[str, str]:
    held = engine.publisher.held if engine.publisher else {}
    found = {d.id: held.get((d.post_id, d.account)) or held.get((d.post_id, "*")) for d in upcoming}
    return {id_: reason for id_, reason in found.items() if reason}


def _print_status(console: Console, report: Status, tz: tzinfo | None) -> None:
    for credential in report.expiring:
        console.print(f"[bold yellow]{escape(credential.message(tz=tz))}[/]")
    for message in report.no_credentials.values():
        console.print(f"[bold yellow]{escape(message)}[/]")
    for account in report.accounts:
        if account.paused_at:
            console.print(
                f"[bold red]account {account.name} is paused[/] since "
                f"{_local(account.paused_at, tz)}: {escape(account.pause_reason or '')}"
                f"\n  fix the credential (`klapper login {account.name}`), then "
                f"`klapper retry --account {account.name}`"
            )
        elif account.wait_until:
            console.print(
                f"[yellow]account {account.name} waits until "
                f"{_local(account.wait_until, tz)}[/]: rate limited"
            )
    for name in report.config_paused:
        console.print(f"[yellow]account {name} is paused in klapper.yaml[/]")
    sections: list[tuple[str, list[Delivery], str]] = [
        ("Unknown: klapper looks on the platform before trying again", report.unknown, "retry"),
        ("Failed", report.failed, "retry"),
        ("Missed (due while klapper was not running)", report.missed, "due"),
        ("Planned (due first)", report.upcoming, "due"),
        ("Published lately", report.recent, "published"),
    ]
    for title, rows, when in sections:
        if not rows:
            continue
        table = Table(title=title, title_justify="left", show_edge=False)
        for column in ("delivery", "when", "post", "account", "state / where"):
            table.add_column(column, overflow="fold")
        for d in rows:
            moment = {
                "due": d.due,
                "published": d.published_at,
                "retry": d.retry_at or d.updated_at,
            }[when]
            detail = d.url if when == "published" else (d.reason or d.first_line)
            if d.final:
                detail = f"final: {d.reason}"
            if d.id in report.held:
                detail = f"held, fix the post: {report.held[d.id]}"
            label = evergreen_label(d.occurrence)  # a time round, marked as `plan` does
            when_text = _local(moment, tz) + (f" ({label})" if label else "")
            table.add_row(
                d.id, when_text, escape(d.post_id), escape(d.account), escape(detail or "")
            )
        console.print(table)
    if not any(rows for _, rows, _ in sections):
        console.print("nothing planned, nothing published yet")
    if report.processes:
        table = Table(
            title="Processes sharing this ledger (last 7 days)",
            title_justify="left",
            show_edge=False,
        )
        for column in ("process (host:pid:start)", "last seen", "published", "failed"):
            table.add_column(column, overflow="fold")
        for p in report.processes:
            table.add_row(escape(p.owner), _local(p.last_seen, tz), str(p.published), str(p.failed))
        console.print(table)


@app.command(
    name="retry",
    epilog=examples(
        "klapper retry d6a321c0a5a",
        "klapper retry d6a321c0a5a --now       # a skipped future delivery: publish it now",
        "klapper retry --account shop-x        # resume a paused account",
    ),
)
def retry_command(
    delivery: Annotated[
        str | None,
        typer.Argument(help="A delivery id from `klapper status`, or a post id (with --account)."),
    ] = None,
    account: AccountOption = None,
    now: Annotated[
        bool, typer.Option("--now", help="A skipped delivery whose time is ahead: publish it now.")
    ] = False,
    repo: RepoOption = Path("."),
    state: StateOption = None,
    url: LedgerOption = None,
    log_format: LogFormatOption = LogFormat.text,
) -> None:
    """Try a failed, unknown, missed or skipped delivery again; un-pauses its account.

    A skipped delivery whose time is still ahead goes back to that time (--now: at once).
    """
    with _engine(repo, state, url, log_format) as engine:
        results = retry(engine, delivery, account=account, now=now)
        _print_results(stdout_console(), results, engine.config.tz)
    raise typer.Exit(EXIT_OK if all(r.ok for r in results) else EXIT_FAILED)


@app.command(
    name="skip",
    epilog=examples(
        "klapper skip d6a321c0a5a",
        "klapper skip posts/launch.yaml --account shop-x",
    ),
)
def skip_command(
    delivery: Annotated[
        str,
        typer.Argument(help="A delivery id from `klapper status`, or a post id (with --account)."),
    ],
    account: AccountOption = None,
    repo: RepoOption = Path("."),
    state: StateOption = None,
    url: LedgerOption = None,
    log_format: LogFormatOption = LogFormat.text,
) -> None:
    """Do not publish this delivery (`klapper retry` undoes it)."""
    with _engine(repo, state, url, log_format, publishes=False) as engine:
        for row in skip(engine, delivery, account=account):
            typer.echo(f"skipped {row.id} {row.post_id} -> {row.account}")
