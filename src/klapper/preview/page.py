"""The preview as one self-contained HTML file: inline CSS, images as data: URIs, no script.

A Content-Security-Policy forbids every script and every request, so even a text that got
through unescaped could neither run nor load anything; every user text is escaped (text.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

from klapper.config.platforms import platform as describe
from klapper.queue.model import Media, Problem

from .calendar import render_calendar
from .images import Images
from .model import Counted, DeliveryView, PartView, PostView, Preview
from .page_css import CSS
from .text import safe, with_links

_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}")
_CW_TITLE = ' title="with the content warning, which this platform counts too"'


def _when(value: datetime, tz: tzinfo) -> str:
    local = value.astimezone(tz)
    return (
        f'<time datetime="{local.isoformat()}" title="{value:%Y-%m-%d %H:%M} UTC">'
        f"{local:%a %-d %b %H:%M}</time>"
    )


def _count(counted: Counted, label: str = "") -> str:
    over = counted.count - counted.limit
    state = f" · {over} over" if over > 0 else ""
    return (
        f'<span class="count{" over" if over > 0 else ""}" data-count="{counted.count}" '
        f'data-limit="{counted.limit}"{_CW_TITLE if counted.with_cw else ""}>'
        f"{label}{counted.count} / {counted.limit}{state}</span>"
    )


def _media(media: tuple[Media, ...], images: Images) -> str:
    if not media:
        return ""
    figures = []
    for item in media:
        image = images.get(item.path)
        picture = (
            f'<div class="thumb {image.css_class}" role="img" aria-label="{safe(item.alt or "")}">'
            "</div>"
            if image.uri
            else f'<div class="thumb missing">{safe(item.file)}<br>{safe(image.why_not or "")}</div>'
        )
        alt = (
            f'<figcaption class="alt"><b>alt</b> {safe(item.alt)}</figcaption>'
            if item.alt
            else '<figcaption class="alt no-alt">no alt text</figcaption>'
        )
        figures.append(f'<figure title="{safe(item.file)}">{picture}{alt}</figure>')
    return f'<div class="media">{"".join(figures)}</div>'


def _options(options: Mapping[str, Any]) -> str:
    return "".join(
        f'<span class="chip">{safe(str(key))}: {safe(str(value))}</span>'
        for key, value in sorted(options.items())
    )


def _part(part: PartView, number: int, total: int, counting: str, images: Images) -> str:
    cw = f'<div class="cw"><b>CW</b> {safe(part.cw)}</div>' if part.cw else ""
    label = f'<span class="number">{number}/{total}</span>' if total > 1 else ""
    body = (
        f'<div class="text">{with_links(part.body.text, counting=counting)}</div>'
        if part.body.text
        else '<div class="text empty">(no text)</div>'
    )
    return (
        f'<li class="part">{cw}{body}{_media(part.media, images)}'
        f'<div class="meta">{label}{_count(part.body)}{_options(part.options)}</div></li>'
    )


def _problems(problems: tuple[Problem, ...] | list[Problem]) -> str:
    if not problems:
        return ""
    items = "".join(
        f'<li class="{p.severity}"><b>{p.severity}</b> '
        f'<span class="where">{safe(str(p.source))}</span> {safe(p.message)}</li>'
        for p in problems
    )
    return f'<ul class="problems">{items}</ul>'


def _delivery(delivery: DeliveryView, tz: tzinfo, images: Images) -> str:
    colour = describe(delivery.platform).colour
    colour = colour if _COLOUR.fullmatch(colour) else "#8b95a5"
    total = len(delivery.parts)
    parts = "".join(
        _part(part, number, total, delivery.counting, images)
        for number, part in enumerate(delivery.parts, 1)
    )
    comment = (
        f'<div class="first-comment"><div class="label">first comment</div>'
        f'<div class="text">{with_links(delivery.first_comment.text, counting=delivery.counting)}'
        f'</div><div class="meta">{_count(delivery.first_comment)}</div></div>'
        if delivery.first_comment
        else ""
    )
    tags = (
        '<div class="tags">links carry '
        + safe("&".join(f"utm_{k}={v}" for k, v in delivery.facet_tags.items()))
        + " (in the link, not the text)</div>"
        if delivery.facet_tags
        else ""
    )
    times = ", ".join(_when(due, tz) for due in delivery.due)
    return (
        f'<div class="delivery{" has-error" if delivery.errors else ""}" '
        f'data-account="{safe(delivery.account)}">'
        f'<div class="account"><span class="dot" style="background:{colour}"></span>'
        f'<b>{safe(delivery.account)}</b><span class="platform">{safe(delivery.title)}</span>'
        f'<span class="times">{times}</span></div>'
        f'<ol class="parts">{parts}</ol>{comment}{tags}{_problems(delivery.problems)}</div>'
    )


def _post(view: PostView, anchor: str, tz: tzinfo, images: Images) -> str:
    post = view.post
    where = safe(f"{post.source.file}:{post.source.line}")
    name = "" if post.id == post.source.file else f'<span class="id">{safe(post.id)}</span>'
    return (
        f'<article class="post" id="{anchor}"><header><h3>{safe(post.first_line or post.id)}'
        f'</h3><div class="where">{where}{name}</div></header><div class="deliveries">'
        + "".join(_delivery(d, tz, images) for d in view.deliveries)
        + "</div></article>"
    )


def _card(value: int | str, label: str, *, bad: bool = False) -> str:
    return (
        f'<div class="card{" bad" if bad else ""}"><div class="value">{value}</div>'
        f'<div class="label">{label}</div></div>'
    )


def _scope(preview: Preview) -> str:
    if preview.since_ref is None:
        return ""
    files = "".join(f"<li>{safe(file)}</li>" for file in preview.changed) or "<li>none</li>"
    removed = "".join(
        f'<li><span class="id">{safe(r.post)}</span> {safe(r.first_line)}</li>'
        for r in preview.removed
    )
    elsewhere = "".join(
        f'<li><span class="id">{safe(post.id)}</span> {safe(post.first_line)} '
        f'<span class="why">({safe(why)})</span></li>'
        for post, why in preview.elsewhere
    )
    return (
        f'<section class="scope"><h2>Changed since {safe(preview.since_ref)}</h2>'
        f'<p>Only the posts of the changed files are shown.</p><ul class="files">{files}</ul>'
        + (f'<h3>Removed posts</h3><ul class="removed">{removed}</ul>' if removed else "")
        + (
            f'<h3>Changed, not in this period</h3><ul class="elsewhere">{elsewhere}</ul>'
            if elsewhere
            else ""
        )
        + "</section>"
    )


def render_page(preview: Preview, *, images: Images | None = None) -> str:
    """The whole page for ``preview``."""
    images = images if images is not None else Images()
    tz = preview.config.tz
    anchors = {view.post.id: f"post-{number}" for number, view in enumerate(preview.posts, 1)}
    posts = "".join(_post(view, anchors[view.post.id], tz, images) for view in preview.posts)
    start, end = preview.start.astimezone(tz), preview.end.astimezone(tz)
    period = f"{start:%a %-d %b %Y} – {end:%a %-d %b %Y} · {safe(preview.config.timezone)}"
    accounts = {d.account for view in preview.posts for d in view.deliveries}
    cards = (
        _card(len(preview.posts), "posts")
        + _card(preview.deliveries, "deliveries")
        + _card(len(accounts), "accounts")
        + _card(preview.errors, "errors", bad=preview.errors > 0)
    )
    problems = (
        f'<section class="load"><h2>Files that cannot be published</h2>'
        f"{_problems(list(preview.problems))}</section>"
        if preview.problems
        else ""
    )
    calendar = render_calendar(preview, anchors=anchors)
    nothing = "" if preview.posts else '<p class="nothing">Nothing due in this period.</p>'
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>klapper preview · {period}</title>"
        f"<style>{CSS}\n{images.css()}</style></head><body><main>"
        f'<header class="top"><h1>klapper <span>preview</span></h1>'
        f'<div class="period">{period}<br>generated {_when(preview.generated, tz)}</div></header>'
        f'<div class="cards">{cards}</div>{_scope(preview)}{problems}'
        f"<section><h2>Calendar</h2>{calendar}</section>"
        f'<section class="posts"><h2>Posts as they will be sent</h2>{nothing}{posts}</section>'
        "</main></body></html>\n"
    )
