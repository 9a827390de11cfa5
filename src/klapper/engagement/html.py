"""The HTML report: one self-contained file (inline CSS, inline SVG charts, no script)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from html import escape

from klapper.engagement.charts import bar_chart, colour, line_chart
from klapper.engagement.funnel_html import FUNNEL_CSS, funnel_sections
from klapper.engagement.report import Report
from klapper.engagement.response import duration

_CSS = """
:root { --ink: #1f2328; --muted: #5f6b7a; --line: #e5e8ee; --card: #fff; --bg: #f4f5f9;
        --accent: #6364ff; --warm: #f59e0b; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Ubuntu, sans-serif; }
main { max-width: 1040px; margin: 0 auto; padding: 32px 24px 48px; }
header { display: flex; justify-content: space-between; align-items: flex-end; gap: 16px;
         flex-wrap: wrap; margin-bottom: 24px; }
h1 { font-size: 28px; margin: 0; letter-spacing: -0.02em; }
h1 span { color: var(--accent); }
h2 { font-size: 17px; margin: 0 0 12px; }
.period { color: var(--muted); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 14px;
         margin-bottom: 18px; }
.card, section { background: var(--card); border-radius: 14px; padding: 18px 20px;
                 box-shadow: 0 1px 2px rgba(20, 24, 40, .06), 0 4px 14px rgba(20, 24, 40, .05); }
.card .value { font-size: 28px; font-weight: 700; letter-spacing: -0.02em; }
.card .label { color: var(--muted); font-size: 13px; }
.card .note { font-size: 12px; color: var(--muted); margin-top: 2px; }
.cards { grid-template-columns: repeat(6, 1fr); }
@media (max-width: 900px) { .cards { grid-template-columns: repeat(3, 1fr); } }
td.name, td.when { white-space: nowrap; }
.platform { color: var(--muted); font-size: 12px; margin-left: 4px; }
section { margin-bottom: 18px; }
.pair { display: grid; grid-template-columns: 3fr 2fr; gap: 18px; }
.pair section { margin-bottom: 0; }
.pair + section { margin-top: 18px; }
@media (max-width: 760px) { .pair { grid-template-columns: 1fr; } }
table { width: 100%; border-collapse: collapse; font-size: 14px; }
th { text-align: left; color: var(--muted); font-weight: 600; font-size: 12px;
     text-transform: uppercase; letter-spacing: .04em; }
th, td { padding: 8px 7px; border-bottom: 1px solid var(--line); }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tr:last-child td { border-bottom: none; }
td.post { max-width: 360px; }
td.post a { color: var(--ink); text-decoration: none; }
td.post a:hover { text-decoration: underline; }
.dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 7px; }
.rank { color: var(--muted); width: 28px; }
.score { font-weight: 700; color: var(--accent); }
.open { color: #b42318; font-weight: 600; }
.chart { width: 100%; height: auto; display: block; }
.chart .grid { stroke: var(--line); stroke-width: 1; }
.chart .axis { stroke: #c9ced8; stroke-width: 1; }
.chart .tick { fill: var(--muted); font-size: 11px; }
.chart .legend { fill: var(--ink); font-size: 12px; }
.chart .bar { fill: #c7c9fb; }
.chart .bar.best { fill: var(--accent); }
.hint { color: var(--muted); font-size: 13px; margin: 8px 0 0; }
.empty { color: var(--muted); }
footer { color: var(--muted); font-size: 12px; text-align: center; margin-top: 28px; }
"""


def _n(value: int | None) -> str:
    return "–" if value is None else f"{value:,}".replace(",", "\u202f")


def _cards(report: Report) -> str:
    totals: dict[str, int | None] = {"likes": None, "reposts": None, "views": None}
    for account in report.accounts:
        for name in totals:
            value = account.figures.get(name)
            if value is not None:
                totals[name] = (totals[name] or 0) + value
    waiting = sum(a.open_items for a in report.accounts)
    cards = [
        ("Posts published", sum(a.posts for a in report.accounts), ""),
        ("Reactions (score)", sum(a.score for a in report.accounts), ""),
        ("Likes", totals["likes"], ""),
        ("Reposts", totals["reposts"], ""),
        ("Views", totals["views"], "where counted"),
        (
            "Replies and mentions",
            sum(a.inbox_replies + a.inbox_mentions for a in report.accounts),
            f'<span class="open">{waiting} waiting for an answer</span>'
            if waiting
            else "all answered",
        ),
    ]
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="value">{_n(value)}</div>'
            f'<div class="label">{escape(label)}</div>'
            f"{f'<div class=note>{note}</div>' if note else ''}</div>"
            for label, value, note in cards
        )
        + "</div>"
    )


def _row(cells: Iterable[tuple[str, str]]) -> str:
    return "<tr>" + "".join(f'<td class="{cls}">{html}</td>' for cls, html in cells) + "</tr>"


def _account(name: str, platform: str, index: int = 0) -> str:
    return (
        f'<span class="dot" style="background:{colour(platform, index)}"></span>'
        f'{escape(name)}<span class="platform">{escape(platform)}</span>'
    )


def _accounts(report: Report) -> str:
    head = (
        "<tr><th>Account</th><th class=n>Posts</th><th class=n>Likes</th>"
        "<th class=n>Reposts</th><th class=n>Replies</th><th class=n>Quotes</th>"
        "<th class=n>Bookmarks</th><th class=n>Views</th><th class=n>Score</th>"
        "<th class=n>Mentions</th><th class=n>Unanswered</th></tr>"
    )
    rows = []
    for index, a in enumerate(report.accounts):
        name = _account(a.account, a.platform, index)
        open_items = f'<span class="open">{a.open_items}</span>' if a.open_items else "0"
        rows.append(
            _row(
                [
                    ("name", name),
                    ("n", _n(a.posts)),
                    *(
                        ("n", _n(a.figures[k]))
                        for k in ("likes", "reposts", "replies", "quotes", "bookmarks", "views")
                    ),
                    ("n score", _n(a.score)),
                    ("n", _n(a.inbox_mentions)),
                    ("n", open_items),
                ]
            )
        )
    return (
        f"<section><h2>Per account</h2><table>{head}{''.join(rows)}</table>"
        '<p class="hint">– : the platform does not give this figure. Score = likes +'
        " reposts + replies + quotes + bookmarks, from each post's latest reading.</p>"
        "</section>"
    )


def _reviews(report: Report) -> str:
    """Per account with reviews: each week's reviews, their mean and the rating so far."""
    sections = []
    for index, r in enumerate(report.reviews):
        head = (
            "<tr><th>Week from</th><th class=n>Reviews</th><th class=n>Mean</th>"
            "<th class=n>Rating so far</th></tr>"
        )
        rows = [
            _row(
                [
                    ("when", f"{w.week:%a %d %b %Y}"),
                    ("n", str(w.reviews)),
                    ("n", "–" if w.mean is None else f"{w.mean:.1f}"),
                    ("n score", "–" if w.running_mean is None else f"{w.running_mean:.1f}"),
                ]
            )
            for w in r.weeks
        ]
        sections.append(
            f"<section><h2>Reviews: {_account(r.account, r.platform, index)}</h2>"
            f"<p>{r.reviews} reviews in this period, {r.mean or 0:.1f} stars on average.</p>"
            f"<table>{head}{''.join(rows)}</table></section>"
        )
    return "".join(sections)


def _response(report: Report) -> str:
    """Per platform: how fast the inbox's items were answered (median, 90th percentile)."""
    if not report.response:
        return ""
    head = (
        "<tr><th>Platform</th><th class=n>Median</th><th class=n>90% within</th>"
        "<th class=n>Answered</th><th class=n>Waiting</th></tr>"
    )
    rows = [
        _row(
            [
                ("name", escape(r.platform)),
                ("n score", duration(r.median_seconds)),
                ("n", duration(r.p90_seconds)),
                ("n", str(r.answered)),
                ("n", str(r.waiting)),
            ]
        )
        for r in report.response
    ]
    return (
        f"<section><h2>Time to answer</h2><table>{head}{''.join(rows)}</table>"
        '<p class="hint">Replies, mentions and reviews that came in during the period: the time'
        " from their arrival to the account's answer.</p></section>"
    )


def _top(report: Report) -> str:
    top = report.top
    if not top:
        return (
            '<section><h2>Top posts</h2><p class="empty">No reactions read yet in this'
            " period.</p></section>"
        )
    head = (
        "<tr><th></th><th>Post</th><th>Account</th><th>Published</th><th class=n>Likes</th>"
        "<th class=n>Reposts</th><th class=n>Replies</th><th class=n>Views</th>"
        "<th class=n>Score</th></tr>"
    )
    rows = []
    for rank, post in enumerate(top, start=1):
        text = escape(post.first_line or post.post)
        link = f'<a href="{escape(post.url)}">{text}</a>' if post.url else text
        when = post.published_at.astimezone(report.tz).strftime("%a %d %b, %H:%M")
        rows.append(
            _row(
                [
                    ("rank", str(rank)),
                    ("post", link),
                    ("name", _account(post.account, post.platform)),
                    ("when", when),
                    *(("n", _n(post.figures[k])) for k in ("likes", "reposts", "replies", "views")),
                    ("n score", _n(post.score)),
                ]
            )
        )
    return f"<section><h2>Top posts</h2><table>{head}{''.join(rows)}</table></section>"


def render_html(report: Report, *, generated: datetime) -> str:
    """The whole report as one HTML document."""
    tz = report.tz
    period = (
        f"{report.since.astimezone(tz):%d %b %Y} – {report.until.astimezone(tz):%d %b %Y}"
        f" · {escape(str(tz))}"
    )
    hours = bar_chart(
        [(s.label, s.mean_score, s.posts) for s in report.hours],
        width=480,
        height=250,
        label_every=3,
        label="Mean score by hour of publishing",
    )
    days = bar_chart(
        [(s.label, s.mean_score, s.posts) for s in report.weekdays],
        width=320,
        height=250,
        label="Mean score by weekday of publishing",
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>klapper engagement report, {period}</title>
<style>{_CSS}{FUNNEL_CSS}</style></head>
<body><main>
<header><h1><span>klapper</span> engagement</h1><div class="period">{period}</div></header>
{_cards(report)}
{funnel_sections(report.funnels)}
<section><h2>Reactions over time</h2>
{line_chart(report.timeline, label="Reactions known by each day, per platform")}
<p class="hint">The score of every post published in the period, as known at the end of each
day.</p></section>
<div class="pair">
<section><h2>Best hours to post</h2>{hours}
<p class="hint">Mean score of the posts published in each hour (local time); the best three
stand out.</p></section>
<section><h2>Best weekdays</h2>{days}
<p class="hint">Mean score by weekday of publishing.</p></section>
</div>
{_accounts(report)}
{_reviews(report)}
{_response(report)}
{_top(report)}
<footer>Made by klapper on {generated.astimezone(tz):%d %b %Y, %H:%M %Z}.</footer>
</main></body></html>
"""
