"""Building small content repositories in a temporary folder for the queue tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

CONFIG = """\
timezone: Europe/Berlin
accounts:
  outbox: {platform: outbox, path: outbox}
  masto: {platform: mastodon, instance: "https://masto.example"}
  bsky: {platform: bluesky}
  x: {platform: x}
  li: {platform: linkedin, author: "urn:li:person:1"}
defaults:
  to: [outbox]
slots:
  mon: ["09:00", "15:00"]
  tue: ["09:00"]
  wed: ["09:00"]
  thu: ["09:00"]
  fri: ["09:00"]
"""


def make_repo(root: Path, files: dict[str, str | bytes], *, config: str | None = CONFIG) -> Path:
    """Write klapper.yaml (unless None) and ``files`` (path -> text, dedented) below ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (root / "klapper.yaml").write_text(config)
    (root / "posts").mkdir(exist_ok=True)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content))
    return root


def png_bytes(size: int = 0) -> bytes:
    """A valid 1x1 PNG, padded with a trailing chunk-free tail to ``size`` bytes if asked."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00\x00\x00\x00"))
        + chunk(b"IEND", b"")
    )
    return data + b"\x00" * max(0, size - len(data))
