"""Names and text made safe to show: control characters and undecodable bytes, escaped.

File names are bytes to the kernel and may hold anything but ``/`` and NUL: a newline, an
escape sequence that recolours or rewrites a terminal, bytes that are not UTF-8 (Python gives
those as lone surrogates, ``os.fsdecode``'s surrogateescape). ``shown`` turns every such
character into a visible escape, so that one line stays one line and a terminal only ever
receives text. Printable text, accents, emoji (with their joiners) and backslashes are left
alone, so an ordinary name is shown exactly as it is.
"""

from __future__ import annotations

import re

# C0 controls, DEL and C1 controls; line and paragraph separators; the bidirectional
# overrides and isolates (they reorder what follows: "trojan source"); every surrogate.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if code < 0x100:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape): show the byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def shown(text: str, *, keep: str = "") -> str:
    """``text`` with unsafe characters escaped (``\\n``, ``\\x1b``, ``\\xe9`` for a non-UTF-8
    byte, ``\\u202e``); characters in ``keep`` (e.g. "\\n" for multi-line output) stay."""
    if keep:
        return _UNSAFE.sub(lambda m: m.group() if m.group() in keep else _escape(m), text)
    return _UNSAFE.sub(_escape, text)


def is_shown_as_is(text: str) -> bool:
    """Whether ``text`` holds nothing that ``shown`` would escape."""
    return _UNSAFE.search(text) is None
