"""User content made safe for the preview page: every text is escaped, nothing runs.

Post texts, names and alt texts come from files anyone with write access to the repository
(or a pull request) wrote: they are HTML-escaped here and nowhere inserted unescaped.
Control and bidirectional characters are shown as escapes (display.shown), as everywhere.
"""

from __future__ import annotations

from html import escape

from klapper.adapters.counting import URL_LENGTH, find_urls
from klapper.display import shown

#: how each counting finds the links it counts as URL_LENGTH (others count links as written)
_URL_FLAVOUR = {"x-weighted": "x", "mastodon": "mastodon"}


def safe(text: str) -> str:
    """``text`` escaped for HTML (quotes too: safe in attributes), line breaks kept."""
    return escape(shown(text, keep="\n\t"), quote=True)


def with_links(text: str, *, counting: str) -> str:
    """``text`` escaped, each link the platform counts as 23 marked (a span, never a link)."""
    flavour = _URL_FLAVOUR.get(counting)
    if flavour is None:
        return safe(text)
    pieces, done = [], 0
    for span in find_urls(text, flavour=flavour):  # type: ignore[arg-type]
        pieces.append(safe(text[done : span.start]))
        pieces.append(
            f'<span class="url" title="counts {URL_LENGTH} characters">'
            f"{safe(text[span.start : span.end])}</span>"
        )
        done = span.end
    pieces.append(safe(text[done:]))
    return "".join(pieces)
