"""`klapper preview`: each upcoming post as each account will get it, as a page or as JSON."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
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
    app,
    examples,
    stdout_console,
)
from klapper.cli.views import ledger_view, open_repository
from klapper.display import shown
from klapper.ledger import state_dir
from klapper.preview import (
    GitError,
    Preview,
    build_preview,
    changed_files,
    preview_json,
    removed_posts,
    render_page,
)
from klapper.queue import announced_rules
from klapper.scheduler.evergreen import planned_with_evergreen

_PAGE_SUFFIXES = (".html", ".htm")


def _usage(message: str) -> typer.Exit:
    typer.echo(f"error: {shown(message)}", err=True)
    return typer.Exit(EXIT_USAGE)


def _check_target(html: Path) -> None:
    """The page goes exactly where asked, and only as an HTML file (never over a post file)."""
    if html.suffix.lower() not in _PAGE_SUFFIXES:
        raise _usage(f"--html {html}: the page's name must end in .html (it would replace {html})")
    if html.is_symlink():
        raise _usage(f"--html {html} is a symbolic link; name the file itself")
    if html.exists() and not html.is_file():
        raise _usage(f"--html {html} exists and is not a file")
    if not html.parent.is_dir():
        raise _usage(f"--html {html}: no folder {html.parent}; create it first")


def _write(html: Path, page: str) -> None:
    # O_NOFOLLOW: a link put there after the check is refused, not followed.
    fd = os.open(html, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(page)


def _summary(preview: Preview, html: Path | None) -> None:
    console = stdout_console()
    scope = f" changed since {preview.since_ref}" if preview.since_ref else ""
    posts, deliveries = len(preview.posts), preview.deliveries
    console.print(
        f"{posts} post{'s' * (posts != 1)}{escape(scope)}, "
        f"{deliveries} deliver{'ies' if deliveries != 1 else 'y'} "
        f"until {preview.end.astimezone(preview.config.tz):%a %Y-%m-%d %H:%M}"
    )
    for removed in preview.removed:
        console.print(f"  removed: {escape(removed.post)}  {escape(removed.first_line)}")
    for post, why in preview.elsewhere:
        console.print(f"  not in this period: {escape(post.id)} ({escape(why)})")
    found = list(preview.problems)
    for view in preview.posts:
        for delivery in view.deliveries:
            found += delivery.problems
    for problem in dict.fromkeys(found):  # a missing image concerns each account: once here
        who = f" [{problem.account}]" if problem.account else ""
        console.print(
            f"  {problem.severity}: {escape(str(problem.source))} {escape(problem.message + who)}"
        )
    if html is not None:
        console.print(f"wrote {escape(shown(str(html)))}")


@app.command(
    epilog=examples(
        "klapper preview --html preview.html",
        "klapper preview --days 28 --since-ref origin/main --html preview.html  # a pull request",
        'klapper preview --format json | jq ".posts[].deliveries[].parts[0].count"',
    )
)
def preview(
    repo: RepoOption = Path("."),
    days: Annotated[
        int, typer.Option("--days", "-d", min=1, max=366, help="How many days ahead.")
    ] = 14,
    since_ref: Annotated[
        str | None,
        typer.Option(
            "--since-ref",
            metavar="REF",
            help="Only posts whose files changed since this git ref (REF...HEAD, and "
            "uncommitted changes); removed posts are listed.",
        ),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option("--html", metavar="FILE", dir_okay=False, help="Write the page here."),
    ] = None,
    output: FormatOption = OutputFormat.text,
    state: StateOption = None,
    url: LedgerOption = None,
) -> None:
    """Show each upcoming post as each account gets it: text, count, images, thread, calendar.

    Exit 1 when a previewed post has an error (too long, an image missing ...), else 0.
    Nothing is written but the --html file.
    """
    if html is not None:
        _check_target(html)
    repository = open_repository(repo=repo)
    files = removed = None
    if since_ref is not None:
        try:
            changes = changed_files(repo=repo, ref=since_ref)
            removed = removed_posts(repository=repository, changes=changes)
        except GitError as exc:
            typer.echo(f"error: {shown(str(exc))}", err=True)
            raise typer.Exit(EXIT_USAGE if exc.usage else EXIT_FAILED) from None
        files = changes.files
    now = datetime.now(UTC)
    end = now + timedelta(days=days)
    with ledger_view(state=state, url=url) as (_published, slots, ledger):
        # The deliveries `klapper plan` lists: slots the ledger gave, evergreen time rounds.
        planned = planned_with_evergreen(
            config=repository.config,
            posts=repository.posts,
            now=now,
            end=end,
            assigned_slots=slots,
            ledger=ledger,
        )
    result = build_preview(
        repository=repository,
        now=now,
        days=days,
        rules=announced_rules(repository.config, cache_dir=state_dir(state)),
        planned=planned,
        files=files,
        since_ref=since_ref,
        removed=removed or (),
    )
    if html is not None:
        _write(html, render_page(result))
    if output is OutputFormat.json:
        typer.echo(json.dumps(preview_json(result), indent=2, ensure_ascii=False))
    else:
        _summary(result, html)
    raise typer.Exit(EXIT_FAILED if result.errors else EXIT_OK)
