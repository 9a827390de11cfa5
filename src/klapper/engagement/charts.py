"""Inline SVG charts for the HTML report: a line chart over days and a bar chart of slots.

Plain SVG text, sized by its viewBox so it scales with the page; no script, no fonts or
files from elsewhere. Every mark has a <title>, which browsers show on hover.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date
from html import escape

from klapper.config.platforms import registry

FALLBACK = ("#16a34a", "#db2777", "#7c3aed", "#0891b2")
ACCENT = "#6364ff"


def colour(name: str, index: int = 0) -> str:
    """A platform's own colour (from its description), else one of the fallbacks."""
    described = registry().get(name)
    return described.colour if described else FALLBACK[index % len(FALLBACK)]


def ticks(value: float) -> tuple[float, int]:
    """A round step (1, 2 or 5 times a power of ten) and how many steps reach ``value``."""
    if value <= 0:
        return 1.0, 4
    raw = value / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return step, max(1, math.ceil(value / step))


def _number(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:g}"


def _frame(width: int, height: int, label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(label)}" class="chart">'
    )


def _grid(*, left: int, right: int, top: int, bottom: int, value: float) -> tuple[list[str], float]:
    """Horizontal grid lines with their labels; returns them and the axis maximum."""
    step, count = ticks(value)
    parts = []
    for n in range(count + 1):
        y = bottom - (bottom - top) * n / count
        parts.append(
            f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'class="{"axis" if n == 0 else "grid"}"/>'
        )
        parts.append(
            f'<text x="{left - 8}" y="{y + 4:.1f}" class="tick" '
            f'text-anchor="end">{_number(step * n)}</text>'
        )
    return parts, step * count


def line_chart(
    series: Mapping[str, Sequence[tuple[date, int]]],
    *,
    width: int = 760,
    height: int = 280,
    label: str = "Reactions over time",
) -> str:
    """One line per series over shared days; the legend names each series."""
    days = sorted({day for points in series.values() for day, _ in points})
    if not days:
        return '<p class="empty">No reactions read yet in this period.</p>'
    left, right, top, bottom = 52, width - 24, 16, height - 48
    grid, top_value = _grid(
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        value=max((v for points in series.values() for _, v in points), default=0),
    )
    span = max(len(days) - 1, 1)

    def x(day: date) -> float:
        return left + (right - left) * days.index(day) / span

    def y(value: float) -> float:
        return bottom - (bottom - top) * value / top_value

    parts = [_frame(width, height, label), *grid]
    every = max(1, math.ceil(len(days) / 8))
    for index, day in enumerate(days):
        # The last day is always labelled; a regular label too close before it is left out.
        last = index == len(days) - 1
        if last or (index % every == 0 and len(days) - 1 - index > every / 2):
            parts.append(
                f'<text x="{x(day):.1f}" y="{bottom + 18}" class="tick" '
                f'text-anchor="middle">{day.strftime("%d %b")}</text>'
            )
    for index, (name, points) in enumerate(sorted(series.items())):
        stroke = colour(name, index)
        path = " ".join(
            f"{'M' if n == 0 else 'L'}{x(d):.1f},{y(v):.1f}" for n, (d, v) in enumerate(points)
        )
        parts.append(
            f'<path d="{path}" fill="none" stroke="{stroke}" stroke-width="2.5" '
            f'stroke-linejoin="round" stroke-linecap="round"/>'
        )
        last_day, last_value = points[-1]
        parts.append(
            f'<circle cx="{x(last_day):.1f}" cy="{y(last_value):.1f}" r="4" '
            f'fill="{stroke}"><title>{escape(name)}: {last_value} on '
            f"{last_day.isoformat()}</title></circle>"
        )
        legend_x = left + 130 * index
        parts.append(
            f'<rect x="{legend_x}" y="{height - 16}" width="12" height="12" rx="3" '
            f'fill="{stroke}"/><text x="{legend_x + 18}" y="{height - 6}" '
            f'class="legend">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    bars: Sequence[tuple[str, float, int]],
    *,
    width: int = 760,
    height: int = 240,
    label: str = "Mean score",
    highlight: int = 3,
    label_every: int = 1,
) -> str:
    """Bars of (label, value, posts); the ``highlight`` best bars are drawn in the accent.

    Every ``label_every``-th bar is labelled below (all of them carry a hover title).
    """
    if not any(posts for _, _, posts in bars):
        return '<p class="empty">Nothing published in this period.</p>'
    left, right, top, bottom = 44, width - 8, 14, height - 30
    grid, top_value = _grid(
        left=left, right=right, top=top, bottom=bottom, value=max(value for _, value, _ in bars)
    )
    best = sorted(range(len(bars)), key=lambda n: -bars[n][1])[:highlight]
    slot = (right - left) / len(bars)
    gap = min(6.0, slot * 0.25)
    parts = [_frame(width, height, label), *grid]
    for index, (name, value, posts) in enumerate(bars):
        bar_height = (bottom - top) * value / top_value
        x = left + slot * index + gap / 2
        kind = "bar best" if index in best and value > 0 else "bar"
        parts.append(
            f'<rect x="{x:.1f}" y="{bottom - bar_height:.1f}" width="{slot - gap:.1f}" '
            f'height="{max(bar_height, 0):.1f}" rx="3" class="{kind}">'
            f"<title>{escape(name)}: mean score {value:g} over {posts} "
            f"post{'s' if posts != 1 else ''}</title></rect>"
        )
        if index % label_every == 0:
            parts.append(
                f'<text x="{x + (slot - gap) / 2:.1f}" y="{bottom + 16}" '
                f'class="tick" text-anchor="middle">{escape(name)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
