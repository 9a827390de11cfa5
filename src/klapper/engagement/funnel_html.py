"""The HTML report's "What it brought": a funnel chart (inline SVG), the funnel per platform
and account with the rates between the steps, and the best posts by visits."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from klapper.engagement.charts import ACCENT, colour
from klapper.engagement.funnel import Funnel, Funnels

#: the steps as the chart names them, with the rate shown beside each and what it is of
_STEPS: tuple[tuple[str, str, str | None, str], ...] = (
    ("reach", "Reach (views)", None, ""),
    ("reactions", "Reactions", "reactions_per_reach", "of reach"),
    ("visits", "Visits to the website", "visits_per_reach", "of reach"),
    ("goals", "Goals reached", "goals_per_visit", "of visits"),
)
_SHADES = (ACCENT, "#8b8cff", "#f59e0b", "#16a34a")

FUNNEL_CSS = """
.funnel .step text { font-size: 13px; fill: var(--ink); }
.funnel .step .value { font-weight: 700; font-size: 16px; }
.funnel .step .rate { fill: var(--muted); font-size: 12.5px; }
.funnel .unknown { fill: none; stroke: #c9ced8; stroke-dasharray: 5 4; }
"""


def _n(value: int | None) -> str:
    return "–" if value is None else f"{value:,}".replace(",", "\u202f")


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def funnel_chart(funnel: Funnel, *, width: int = 760, height: int = 248) -> str:
    """Four centred bars, reach to goals; widths on a log scale so that goals stay visible
    beside thousands of views. An unknown step is a dashed outline."""
    known = [getattr(funnel, step) or 0 for step, _, _, _ in _STEPS]
    top = max(known) or 1
    centre, widest, narrowest = width * 0.3, width * 0.54, 18.0
    row = (height - 16) / len(_STEPS)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="Funnel: reach, reactions, visits, goals" class="chart funnel">'
    ]
    for index, (step, name, rate, base) in enumerate(_STEPS):
        value = getattr(funnel, step)
        share = math.log10(1 + (value or 0)) / math.log10(1 + top) if top > 0 else 0.0
        bar = narrowest + (widest - narrowest) * share
        y = 8 + row * index
        shape = (
            f'<rect x="{centre - bar / 2:.1f}" y="{y:.1f}" width="{bar:.1f}" '
            f'height="{row - 10:.1f}" rx="6" fill="{_SHADES[index]}"/>'
            if value is not None
            else f'<rect x="{centre - widest / 2:.1f}" y="{y:.1f}" width="{widest:.1f}" '
            f'height="{row - 10:.1f}" rx="6" class="unknown"/>'
        )
        said = f"{name}: {_n(value)}"
        rate_text = f"{_pct(funnel.rate(rate))} {base}" if rate else ""
        text_x = centre + widest / 2 + 16
        middle = y + (row - 10) / 2
        parts.append(
            f'<g class="step" data-step="{step}"><title>{escape(said)}'
            f"{escape(', ' + rate_text) if rate else ''}</title>{shape}"
            f'<text x="{text_x:.1f}" y="{middle - 4:.1f}"><tspan class="value">{_n(value)}'
            f"</tspan> {escape(name)}</text>"
            + (
                f'<text x="{text_x:.1f}" y="{middle + 13:.1f}" class="rate">'
                f"{escape(rate_text)}</text>"
                if rate
                else ""
            )
            + "</g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(title: str, rows: Sequence[Funnel], *, coloured: bool) -> str:
    head = (
        f"<tr><th>{escape(title)}</th><th class=n>Reach</th><th class=n>Reactions</th>"
        "<th class=n>Visits</th><th class=n>Goals</th><th class=n>Reactions / reach</th>"
        "<th class=n>Visits / reach</th><th class=n>Goals / visit</th></tr>"
    )
    body = []
    for index, f in enumerate(rows):
        dot = (
            f'<span class="dot" style="background:{colour(f.platform or f.name, index)}"></span>'
            if coloured
            else ""
        )
        platform = (
            f'<span class="platform">{escape(f.platform)}</span>'
            if f.platform and f.platform != f.name
            else ""
        )
        cells = [
            f'<td class="name">{dot}{escape(f.name)}{platform}</td>',
            *(f'<td class="n">{_n(getattr(f, s))}</td>' for s in ("reach", "reactions")),
            *(f'<td class="n">{_n(getattr(f, s))}</td>' for s in ("visits", "goals")),
            *(
                f'<td class="n">{_pct(f.rate(r))}</td>'
                for r in ("reactions_per_reach", "visits_per_reach", "goals_per_visit")
            ),
        ]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _best(funnels: Funnels) -> str:
    best = funnels.best_by_visits
    if not best:
        return (
            '<section id="best-by-visits"><h2>Best posts by visits</h2>'
            '<p class="empty">No visits read yet.</p></section>'
        )
    head = (
        "<tr><th></th><th>Post</th><th class=n>Visits</th><th class=n>Goals</th>"
        "<th class=n>Reach</th><th class=n>Reactions</th><th class=n>Visits / reach</th>"
        "<th class=n>Goals / visit</th></tr>"
    )
    rows = []
    for rank, f in enumerate(best, start=1):
        text = escape(f.first_line or f.name)
        link = f'<a href="{escape(f.url)}">{text}</a>' if f.url else text
        rows.append(
            f'<tr><td class="rank">{rank}</td><td class="post">{link}</td>'
            f'<td class="n score">{_n(f.visits)}</td><td class="n">{_n(f.goals)}</td>'
            f'<td class="n">{_n(f.reach)}</td><td class="n">{_n(f.reactions)}</td>'
            f'<td class="n">{_pct(f.rate("visits_per_reach"))}</td>'
            f'<td class="n">{_pct(f.rate("goals_per_visit"))}</td></tr>'
        )
    return (
        '<section id="best-by-visits"><h2>Best posts by visits</h2>'
        f"<table>{head}{''.join(rows)}</table></section>"
    )


def funnel_sections(funnels: Funnels) -> str:
    """The funnel section and the best posts by visits."""
    note = (
        ""
        if funnels.measured
        else '<p class="hint">No visits read yet: name your Matomo or Plausible under '
        "<code>analytics:</code> in klapper.yaml (docs/analytics.md).</p>"
    )
    return (
        '<section id="funnel"><h2>What it brought</h2>'
        f"{funnel_chart(funnels.total)}{note}"
        '<p class="hint">Reach is the views the platforms count; visits and goals come from '
        "the website's analytics through the posts' campaign links. Bar widths grow with the "
        "logarithm of each figure.</p>"
        f"{_table('Platform', funnels.platforms, coloured=True)}"
        f"{_table('Account', funnels.accounts, coloured=True)}</section>"
        f"{_best(funnels)}"
    )
