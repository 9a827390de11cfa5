"""Images in the preview page, embedded as ``data:`` URIs so the page is one file.

A CI artifact or a mailed page has no repository beside it, so relative links would break.
Each image file is embedded once (a CSS class per file, however many accounts and posts show
it), only when its content is PNG, JPEG, GIF or WebP (the type comes from its first bytes, never
its name: an SVG or HTML file could carry script) and at most ``MAX_EMBEDDED`` bytes; otherwise
the page shows why in its place.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

from klapper.config.safeopen import FileTooLarge, read_regular
from klapper.queue.media import sniff_type

#: the largest image embedded (bytes); X takes 5 MB, Bluesky 1 MB, so real ones fit
MAX_EMBEDDED = 5 * 1024 * 1024


@dataclass(frozen=True)
class Image:
    css_class: str  # "img3": its data URI is set once in the page's style
    uri: str | None  # data:image/...;base64,... or None when not embedded
    why_not: str | None = None  # shown instead of the image


@dataclass
class Images:
    """Each image file read once; ``css()`` gives the rules that hold their data."""

    limit: int = MAX_EMBEDDED
    found: dict[Path, Image] = field(default_factory=dict)

    def get(self, path: Path) -> Image:
        if path not in self.found:
            self.found[path] = self._read(path, f"img{len(self.found)}")
        return self.found[path]

    def _read(self, path: Path, css_class: str) -> Image:
        try:
            data, _ = read_regular(path, limit=self.limit)
        except FileTooLarge as exc:
            return Image(css_class, None, f"{exc.size:,} bytes: too large to embed")
        except FileNotFoundError:
            return Image(css_class, None, "file not found")
        except OSError as exc:
            return Image(css_class, None, f"cannot read it: {exc.strerror}")
        mime = sniff_type(data[:12])
        if mime is None:
            return Image(css_class, None, "not a PNG, JPEG, GIF or WebP image")
        return Image(css_class, f"data:{mime};base64,{base64.b64encode(data).decode()}")

    def css(self) -> str:
        # base64 holds only [A-Za-z0-9+/=]: nothing in it can end the string or the rule.
        return "\n".join(
            f'.{image.css_class} {{ background-image: url("{image.uri}"); }}'
            for image in self.found.values()
            if image.uri
        )
