"""What an image file really is: its type from its first bytes (never its name) and its size.

A file named ``photo.jpg`` may be a shell script; a platform would refuse it at best, and the
post would fail at its time instead of in `klapper check`. The size comes from fstat on the
open file, so a huge file is judged without being read, and a FIFO is never waited on.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from klapper.config.safeopen import open_regular

#: leading bytes -> MIME type; WebP is RIFF....WEBP (see sniff_type)
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
KNOWN = "PNG, JPEG, GIF or WebP"


class MediaInfo(NamedTuple):
    """An image file's size in bytes and its type from its content (None: not an image)."""

    size: int
    mime: str | None


def sniff_type(head: bytes) -> str | None:
    """The MIME type of an image from its first 12 bytes; None when they are no image's."""
    for magic, mime in _MAGIC:
        if head.startswith(magic):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def inspect_media(path: str | os.PathLike[str]) -> MediaInfo:
    """Size and type of a regular file; OSError (NotRegularFile for a FIFO ...) if unreadable."""
    fd, info = open_regular(path)
    try:
        return MediaInfo(info.st_size, sniff_type(os.read(fd, 12)))
    finally:
        os.close(fd)
