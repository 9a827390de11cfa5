"""Campaign tags on links: ``utm_*`` parameters added to each link a platform finds in a text.

Links are found with ``counting.find_urls``, in the flavour of the platform's counting (X also
links bare domains; everyone else needs a scheme), so a tagged link is still one link that
counts 23 on X and Mastodon. A link's own query, its ``utm_*`` parameters and its fragment are
kept as written; only the tags it lacks are added, percent-encoded. X's t.co links are left
alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote, unquote_plus

from klapper.adapters.base import Counting
from klapper.adapters.counting import UrlFlavour, find_urls

__all__ = ["flavour_for", "tag_text", "tag_url"]

PREFIX = "utm_"
# quote() leaves "." and "~" alone; a value ending in one would end the link before it.
_ALSO_ENCODED = str.maketrans({".": "%2E", "~": "%7E"})
_LOOKAHEAD = 600  # characters after a link that a query could run on into (no spaces)
#: X's own short links: a tag on them reaches nobody, and after one X would end them elsewhere
_SHORTENER = re.compile(r"^(?:https?://)?t\.co/", re.IGNORECASE)


def flavour_for(counting: Counting) -> UrlFlavour:
    """Which links a platform counting this way finds: X's (bare domains too) or with a scheme."""
    return "x" if counting == "x-weighted" else "mastodon"


def tag_url(url: str, *, tags: Mapping[str, str]) -> str:
    """``url`` with ``utm_KEY=value`` for each of ``tags`` it lacks, before its fragment."""
    if _SHORTENER.match(url):
        return url
    base, hash_mark, fragment = url.partition("#")
    path, _, query = base.partition("?")
    present = {unquote_plus(pair.partition("=")[0]).lower() for pair in query.split("&")}
    added = [
        f"{PREFIX}{key}={quote(value, safe='').translate(_ALSO_ENCODED)}"
        for key, value in tags.items()
        if value and f"{PREFIX}{key}".lower() not in present
    ]
    if not added:
        return url
    joined = "&".join(added)
    if not query and "/" not in path.partition("://")[2 if "://" in path else 0]:
        path += "/"  # X ends a bare "shop.de" before a query: "shop.de/?utm_..." is one link
    query = f"{query}&{joined}" if query and not query.endswith("&") else query + joined
    return f"{path}?{query}{hash_mark}{fragment}"


def tag_text(text: str, *, tags: Mapping[str, str], counting: Counting) -> str:
    """``text`` with every link in it tagged (``tag_url``); nothing outside links changes."""
    if not tags:
        return text
    pieces: list[str] = []
    pos = 0
    flavour = flavour_for(counting)
    for span in find_urls(text, flavour=flavour):
        tagged = tag_url(text[span.start : span.end], tags=tags)
        # The platform must still see the tagged link, and only it: after "shop.de?a=1" or
        # "shop.de/(x" a query would run on into the text that follows. And the links after it
        # must stay links: on X, "shop.de/?utm_…%232.🎄www.shop.de" hides the second one.
        after = text[span.end : span.end + _LOOKAHEAD]
        found = find_urls(tagged + after, flavour=flavour)
        if not found or found[0][:2] != (0, len(tagged)):
            continue
        if len(found) != len(find_urls(text[span.start : span.end] + after, flavour=flavour)):
            continue
        pieces += (text[pos : span.start], tagged)
        pos = span.end
    pieces.append(text[pos:])
    return "".join(pieces)
