"""Commands about the content repository: `klapper check`, `klapper plan`, `klapper schema`."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from enum import Enum
from itertools import groupby
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from klapper.cli.app import (
    EXIT_FAILED,
    EXIT_OK,
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
from klapper.cli.views import ledger_view, open_repository
from klapper.config.model import Config, config_json_schema
from klapper.config.platforms import platform as describe
from klapper.display import shown
from klapper.ledger import state_dir
from klapper.queue import announced_rules, check_posts
from klapper.queue.campaign import parts_as_sent
from klapper.queue.model import Problem, first_line_of
from klapper.queue.online import TIMEOUT, check_online
from klapper.queue.replies import check_saved_replies
from klapper.queue.schema import post_file_schema
from klapper.scheduler.credentials import (
    analytics_problems,
    credential_problems,
    missing_credentials,
)
from klapper.scheduler.evergreen import (
    evergreen_label,
    planned_with_evergreen,
    recurrence_number,
)

SCHEMA_URL = "https://json-schema.org/draft/2020-12/schema"


class CheckFormat(str, Enum):
    text = "text"
    json = "json"
    github = "github"


class SchemaKind(str, Enum):
    post = "post"
    config = "config"


def _github_path(repo: Path, file: str) -> str:
    """Annotations need paths from the workflow's folder, not from the content repository."""
    path = os.path.normpath(os.path.join(repo, file))
    return os.path.relpath(path) if os.path.isabs(path) else path


def _escape_github(text: str, *, prop: bool = False) -> str:
    text = shown(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def _who(problem: Problem) -> str:
    parts = [p for p in (problem.post, problem.account) if p]
    return f" [{' → '.join(parts)}]" if parts else ""


def _print_text(problems: list[Problem], posts: int) -> None:
    console = stdout_console()
    for file, group in groupby(problems, key=lambda p: p.source.file):
        console.print(f"[bold]{escape(shown(file))}[/bold]")
        for problem in group:  # one line each, whatever a name or a value holds
            colour = "red" if problem.severity == "error" else "yellow"
            console.print(
                f"  {problem.source.line}:{problem.source.column}  "
                f"[{colour}]{problem.severity}[/{colour}]  {escape(shown(problem.message))}"
                f"[dim]{escape(shown(_who(problem)))}[/dim]"
            )
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    if not problems:
        console.print(f"[green]✓[/green] {posts} posts, no problems")
    else:
        console.print(
            f"{errors} error{'s' * (errors != 1)}, {warnings} "
            f"warning{'s' * (warnings != 1)}; {posts} valid posts"
        )


@app.command(
    epilog=examples(
        "klapper check --repo ~/posts",
        'klapper check --format json | jq ".[] | select(.severity == \\"error\\")"',
        "klapper check --format github        # annotations on a pull request",
        "klapper check --online               # the media addresses serve the files",
    )
)
def check(
    repo: RepoOption = Path("."),
    output: Annotated[
        CheckFormat,
        typer.Option(
            "--format",
            "-f",
            help="text (grouped by file), json (a list), github (annotations).",
        ),
    ] = CheckFormat.text,
    state: StateOption = None,
    url: LedgerOption = None,
    online: Annotated[
        bool,
        typer.Option(
            "--online",
            help="Also ask every media address of accounts with media_url: it must serve the"
            " file (200, its type and size). Without it, check sends nothing.",
        ),
    ] = False,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=0.1, max=300, help="With --online: seconds per address."),
    ] = TIMEOUT,
) -> None:
    """Check every post for every account it goes to; exit 1 when anything is an error."""
    repository = open_repository(repo=repo)
    rules = announced_rules(repository.config, cache_dir=state_dir(state))
    with ledger_view(state=state, url=url) as (published, _slots, _ledger):
        found = check_posts(repository, now=datetime.now(UTC), published=published, rules=rules)
        if online:
            with progress_bar("asking the media addresses") as progress:
                found += check_online(
                    repository, published=published, timeout=timeout, progress=progress
                )
    found += check_saved_replies(repo, repository.config, rules=rules)
    found += credential_problems(missing_credentials(repository.config), repo=repo)
    found += analytics_problems(repository.config, repo=repo)
    problems = sorted(
        [*repository.problems, *found], key=lambda p: (p.source, p.severity != "error")
    )
    if output is CheckFormat.json:
        typer.echo(json.dumps([p.to_json() for p in problems], indent=2, ensure_ascii=False))
    elif output is CheckFormat.github:
        for p in problems:
            where = (
                f"file={_escape_github(_github_path(repo, p.source.file), prop=True)},"
                f"line={p.source.line},col={p.source.column}"
            )
            typer.echo(
                f"::{p.severity} {where},title=klapper check::{_escape_github(p.message + _who(p))}"
            )
    else:
        _print_text(problems, len(repository.posts))
    failed = any(p.severity == "error" for p in problems)
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


@app.command(
    epilog=examples(
        "klapper plan --days 14",
        'klapper plan --format json | jq -r ".[].due"',
    )
)
def plan(
    repo: RepoOption = Path("."),
    days: Annotated[
        int, typer.Option("--days", "-d", min=1, max=3660, help="How many days ahead.")
    ] = 7,
    output: FormatOption = OutputFormat.text,
    state: StateOption = None,
    url: LedgerOption = None,
) -> None:
    """List the upcoming deliveries in time order: when (local and UTC), post, account."""
    repository = open_repository(repo=repo)
    config = repository.config
    now = datetime.now(UTC)
    with ledger_view(state=state, url=url) as (_published, slots, ledger):
        deliveries = planned_with_evergreen(
            config=config,
            posts=repository.posts,
            now=now,
            end=now + timedelta(days=days),
            assigned_slots=slots,
            ledger=ledger,
        )
    posts = {post.id: post for post in repository.posts}
    missing = missing_credentials(config)
    rows: list[dict[str, Any]] = []
    for d in deliveries:
        local = d.due.astimezone(config.tz)
        # What this account gets, as sent: its `per:` text, else the post's; links tagged.
        platform = config.accounts[d.account].platform
        text = parts_as_sent(
            config=config,
            post=posts[d.post_id],
            account=d.account,
            platform=platform,
            rules=describe(platform).rules,
            due=d.due,
        )[0].text
        rows.append(
            {
                "post": d.post_id,
                "account": d.account,
                "due": local.isoformat(),
                "due_utc": d.due.isoformat().replace("+00:00", "Z"),
                "occurrence": d.occurrence,
                "evergreen": recurrence_number(d.occurrence) or None,  # its time round, N
                "slotted": d.slotted,
                "note": d.note,
                "first_line": first_line_of(text),
                "text": text,
                "no_credentials": d.account in missing,
                "_local": local,
            }
        )
    errors = sum(p.severity == "error" for p in repository.problems)
    if output is OutputFormat.json:
        typer.echo(
            json.dumps(
                [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows],
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        _print_plan(rows, config, days, missing)
    if errors:
        typer.echo(
            f"{errors} error{'s' * (errors != 1)} in the repository: posts with errors "
            "are not planned; run `klapper check`",
            err=True,
        )


def _print_plan(
    rows: list[dict[str, Any]], config: Config, days: int, missing: dict[str, str]
) -> None:
    console = stdout_console()
    for message in missing.values():
        console.print(f"[bold yellow]! {escape(message)}[/]")
    if not rows:
        console.print(f"Nothing due in the next {days} days.")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in (f"local ({config.timezone})", "UTC", "post", "account", "text"):
        table.add_column(name, no_wrap=name != "text", overflow="ellipsis")
    for row in rows:
        label = evergreen_label(row["occurrence"])
        marker = (
            " *"
            if row["note"]
            else f" ({label})"
            if label
            else (" (slot)" if row["slotted"] else "")
        )
        table.add_row(
            f"{row['_local']:%a %Y-%m-%d %H:%M}{marker}",
            f"{row['_local'].astimezone(UTC):%H:%M}",
            escape(row["post"]),
            escape(row["account"] + (" !" if row["no_credentials"] else "")),
            escape(row["first_line"][:60]),
        )
    console.print(table)
    for note in dict.fromkeys(row["note"] for row in rows if row["note"]):
        console.print(f"* {escape(note)}")


@app.command(
    epilog=examples(
        "klapper schema post > .schema/post.json",
        "klapper schema config > .schema/config.json",
    )
)
def schema(
    kind: Annotated[SchemaKind, typer.Argument(help="post (post files) or config (klapper.yaml).")],
) -> None:
    """Print the JSON Schema of post files or klapper.yaml, for editors (yaml-language-server)."""
    if kind is SchemaKind.post:
        document = post_file_schema()
    else:
        document = {"$schema": SCHEMA_URL, **config_json_schema(), "title": "klapper.yaml"}
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
