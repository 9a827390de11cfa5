"""The link card of a Bluesky post: title, description and image of the first linked page.

Bluesky shows no preview unless the poster builds one (app.bsky.embed.external), so klapper
reads the page's <title> / Open Graph tags itself, briefly and with small size caps. Any
failure here only means "no card": it never fails the post.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx

log = logging.getLogger(__name__)

PAGE_BYTES = 512 * 1024  # enough for any <head>; the rest of the page is never read
USER_AGENT = "klapper (link preview)"


@dataclass(frozen=True)
class Card:
    """What the card shows; ``image`` is the absolute URL of its picture, if the page names one."""

    url: str
    title: str
    description: str
    image: str | None = None


class _HeadParser(HTMLParser):
    """Collects <title> and <meta> name/property -> content until </head>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title = ""
        self._in_title = False
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag == "meta":
            values = dict(attrs)
            key = (values.get("property") or values.get("name") or "").lower()
            content = values.get("content")
            if key and content and key not in self.meta:
                self.meta[key] = content.strip()
        elif tag == "body":
            self.done = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "head":
            self.done = True

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def fetch_bytes(url: str, *, timeout: float, limit: int, want: str) -> tuple[bytes, str] | None:
    """Up to ``limit`` bytes of ``url`` if its content type starts with ``want``; None otherwise.

    ``timeout`` bounds the whole fetch, not each read, so a page that trickles cannot hold
    the publish up.
    """
    deadline = time.monotonic() + timeout
    try:
        with (
            httpx.Client(
                timeout=timeout,
                follow_redirects=True,
                max_redirects=3,
                headers={"User-Agent": USER_AGENT},
            ) as client,
            client.stream("GET", url) as response,
        ):
            kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if response.status_code != 200 or not kind.startswith(want):
                log.info("no link card from %s: HTTP %s, %s", url, response.status_code, kind)
                return None
            data = b""
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > limit or time.monotonic() > deadline:
                    break
            return data[:limit], kind
    except (httpx.HTTPError, ValueError) as exc:
        log.info("no link card from %s: %s", url, type(exc).__name__)
        return None


def fetch_card(url: str, *, timeout: float) -> Card | None:
    """The card for ``url``, or None when the page cannot be read in time."""
    page = fetch_bytes(url, timeout=timeout, limit=PAGE_BYTES, want="text/html")
    if page is None:
        return None
    parser = _HeadParser()
    text = page[0].decode("utf-8", errors="replace")
    for start in range(0, len(text), 8192):  # feed in pieces so parsing stops at </head>
        parser.feed(text[start : start + 8192])
        if parser.done:
            break
    meta = parser.meta
    title = meta.get("og:title") or meta.get("twitter:title") or " ".join(parser.title.split())
    description = (
        meta.get("og:description")
        or meta.get("twitter:description")
        or meta.get("description")
        or ""
    )
    image = meta.get("og:image") or meta.get("twitter:image")
    return Card(
        url=url,
        title=title[:300] or url,
        description=description[:1000],
        image=urljoin(url, image) if image else None,
    )
