"""The report and the inbox as text (rich tables) and CSV; HTML lives in engagement/html.py."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import tzinfo

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from klapper.engagement.funnel import RATES, Funnel, Funnels
from klapper.engagement.report import Report
from klapper.engagement.response import duration
from klapper.engagement.store import FIGURES, InboxItem

CSV_COLUMNS: tuple[str, ...] = (
    "account",
    "platform",
    "post",
    "delivery",
    "published_local",
    "weekday",
    "hour",
    *FIGURES,
    "score",
    "inbox_replies",
    "visits",
    "visitors",
    "goals",
    *RATES,
    "url",
    "first_line",
)
_MARKS = {"complaint": "[bold red]complaint[/]", "question": "[yellow]question[/]"}


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)


def report_csv(report: Report) -> str:
    """One row per published delivery; empty cells where the platform gives no figure."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for post in sorted(report.posts, key=lambda p: (p.published_at, p.account)):
        local = post.published_at.astimezone(report.tz)
        funnel = report.funnels.deliveries.get(post.delivery) or Funnel(post.delivery)
        writer.writerow(
            [
                post.account,
                post.platform,
                post.post,
                post.delivery,
                local.isoformat(timespec="minutes"),
                local.strftime("%a"),
                local.hour,
                *("" if post.figures[k] is None else post.figures[k] for k in FIGURES),
                post.score,
                post.inbox_replies,
                *("" if v is None else v for v in (funnel.visits, funnel.visitors, funnel.goals)),
                *("" if funnel.rate(r) is None else funnel.rate(r) for r in RATES),
                post.url or "",
                post.first_line,
            ]
        )
    return out.getvalue()


def print_report(console: Console, report: Report) -> None:
    """The report as tables for a terminal: reactions, then what it brought."""
    _print_reactions(console, report)
    print_funnels(console, report.funnels)


def _print_reactions(console: Console, report: Report) -> None:
    tz = report.tz
    console.print(
        f"[bold]Engagement[/] {report.since.astimezone(tz):%Y-%m-%d} to "
        f"{report.until.astimezone(tz):%Y-%m-%d} ({tz})"
    )
    accounts = Table(title="Per account", title_justify="left", show_edge=False)
    for column in (
        "account",
        "platform",
        "posts",
        *FIGURES,
        "score",
        "replies",
        "mentions",
        "unanswered",
    ):
        accounts.add_column(
            column, justify="left" if column in ("account", "platform") else "right"
        )
    for a in report.accounts:
        accounts.add_row(
            escape(a.account),
            a.platform,
            str(a.posts),
            *(_n(a.figures[k]) for k in FIGURES),
            str(a.score),
            str(a.inbox_replies),
            str(a.inbox_mentions),
            str(a.open_items),
        )
    console.print(accounts)
    for r in report.reviews:  # mean: each account listed has at least one review
        weeks = ", ".join(f"{w.week:%d %b} {w.running_mean:.1f}" for w in r.weeks if w.reviews)
        console.print(
            f"Reviews on {escape(r.account)}: {r.reviews}, {r.mean or 0:.1f} stars on"
            f" average; the rating by week (from Monday): {weeks}"
        )
    for t in report.response:
        console.print(
            f"Time to answer on {t.platform}: median {duration(t.median_seconds)}, 90% within"
            f" {duration(t.p90_seconds)} ({t.answered} answered, {t.waiting} waiting)"
        )
    top = Table(title="Top posts", title_justify="left", show_edge=False)
    for column in ("#", "published", "account", "post", "likes", "reposts", "replies", "score"):
        top.add_column(column, overflow="fold")
    for rank, p in enumerate(report.top, start=1):
        top.add_row(
            str(rank),
            p.published_at.astimezone(tz).strftime("%a %d %b %H:%M"),
            escape(p.account),
            escape(p.first_line[:60] or p.post),
            _n(p.figures["likes"]),
            _n(p.figures["reposts"]),
            _n(p.figures["replies"]),
            str(p.score),
        )
    console.print(top if report.top else "No reactions read yet in this period.")
    best = sorted((s for s in report.hours if s.posts), key=lambda s: -s.mean_score)[:3]
    days = sorted((s for s in report.weekdays if s.posts), key=lambda s: -s.mean_score)[:3]
    if best:
        console.print(
            "Best hours: "
            + ", ".join(f"{s.label}:00 (mean {s.mean_score:g}, {s.posts} posts)" for s in best)
        )
        console.print(
            "Best weekdays: "
            + ", ".join(f"{s.label} (mean {s.mean_score:g}, {s.posts} posts)" for s in days)
        )


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def print_funnels(console: Console, funnels: Funnels) -> None:
    """What it brought: reach, reactions, visits, goals and the rates, per platform and
    account, and the best posts by visits."""
    if not funnels.measured:
        console.print(
            "Visits and goals: none read yet (analytics: in klapper.yaml, see docs/analytics.md)."
        )
    table = Table(title="What it brought", title_justify="left", show_edge=False)
    for column in ("", "name", "reach", "reactions", "visits", "goals"):
        table.add_column(column, justify="left" if column in ("", "name") else "right")
    for column in ("react/reach", "visits/reach", "goals/visit"):
        table.add_column(column, justify="right")
    groups = [("all", [funnels.total]), ("platform", funnels.platforms)]
    groups.append(("account", funnels.accounts))
    for kind, rows in groups:
        for f in rows:
            table.add_row(
                kind,
                escape(f.name),
                _n(f.reach),
                str(f.reactions),
                _n(f.visits),
                _n(f.goals),
                _rate(f.rate("reactions_per_reach")),
                _rate(f.rate("visits_per_reach")),
                _rate(f.rate("goals_per_visit")),
            )
    console.print(table)
    best = funnels.best_by_visits
    if best:
        top = Table(title="Best posts by visits", title_justify="left", show_edge=False)
        columns = ("#", "post", "visits", "goals", "reach", "reactions")
        for column in (*columns, "visits/reach", "goals/visit"):
            top.add_column(column, overflow="fold")
        for rank, f in enumerate(best, start=1):
            top.add_row(
                str(rank),
                escape(f.first_line[:60] or f.name),
                _n(f.visits),
                _n(f.goals),
                _n(f.reach),
                str(f.reactions),
                _rate(f.rate("visits_per_reach")),
                _rate(f.rate("goals_per_visit")),
            )
        console.print(top)


def print_inbox(console: Console, items: Sequence[InboxItem], tz: tzinfo | None) -> None:
    """Unanswered replies and mentions, newest first, each with the link to answer it."""
    if not items:
        console.print("Nothing waits for an answer.")
        return
    for item in items:
        when = item.created_at.astimezone(tz).strftime("%a %d %b %H:%M")
        mark = f" {_MARKS[item.attention]}" if item.attention else ""
        console.print(
            f"[bold]{item.id}[/] {when} {item.kind} from [cyan]{escape(item.author)}"
            f"[/] on {escape(item.account)}{mark}"
        )
        console.print(f"  {escape(' '.join(item.text.split()))}", overflow="fold")
        if item.url:
            console.print(f"  answer: {escape(item.url)}", overflow="fold")
    console.print(
        f"{len(items)} waiting; `klapper inbox reply ID --text ...` answers one on its platform,"
        " `klapper inbox done ID` marks one handled."
    )
