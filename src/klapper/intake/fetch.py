"""Downloading an image named by URL in an imported row into media/, within the size and type
limits of the accounts it goes to.

The type comes from the first bytes (queue.media.sniff_type), never from the URL or the
server's Content-Type; a download stops at the limit instead of filling the disk. The file is
named by its content's hash, so importing the same row again reuses it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlsplit

import requests

from klapper.intake.postfile import write_atomically
from klapper.queue.media import KNOWN, sniff_type

_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
}
_CHUNK = 64 * 1024
TIMEOUT = 15.0  # seconds to connect and between bytes: a stalled server fails the row only


class FetchError(Exception):
    """The image could not be taken; ``str(exc)`` says why, in one line."""


def _shown_url(url: str) -> str:
    # A query string may hold a signed token: never repeated in messages.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" + ("?…" if parts.query else "")


def fetch_image(
    *,
    url: str,
    folder: Path,
    max_bytes: int,
    types: frozenset[str],
    session: requests.Session,
    timeout: float = TIMEOUT,
) -> Path:
    """The path below ``folder`` of the image at ``url``, downloaded if not there yet."""
    shown = _shown_url(url)
    if urlsplit(url).scheme not in ("http", "https"):
        raise FetchError(f"image {shown!r} is not an http(s) URL")
    try:
        with session.get(url, stream=True, timeout=timeout) as response:
            if response.status_code != 200:
                raise FetchError(f"image {shown} answered HTTP {response.status_code}")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(
                    f"image {shown} is {int(declared):,} bytes; the accounts "
                    f"take at most {max_bytes:,}"
                )
            body = bytearray()
            for chunk in response.iter_content(_CHUNK):
                body += chunk
                if len(body) > max_bytes:
                    raise FetchError(
                        f"image {shown} is larger than {max_bytes:,} bytes, "
                        "the most the accounts take"
                    )
    except requests.RequestException as exc:
        raise FetchError(f"image {shown} could not be downloaded ({type(exc).__name__})") from None
    mime = sniff_type(bytes(body[:12]))
    if mime is None:
        raise FetchError(f"image {shown} is not an image: its content is not {KNOWN}")
    if mime not in types:
        raise FetchError(f"image {shown} is {mime}; the accounts take {', '.join(sorted(types))}")
    path = folder / (hashlib.sha256(body).hexdigest()[:16] + _EXTENSIONS[mime])
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        write_atomically(path, bytes(body))
    return path
