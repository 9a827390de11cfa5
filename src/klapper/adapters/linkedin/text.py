"""LinkedIn's "little" text format: plain post text in, escaped commentary out, and back.

The Posts API reads ``commentary`` as little text: the characters ``| { } @ [ ] ( ) < > # \\ * _ ~``
are markup (mentions, hashtag templates) and must be backslash-escaped to show as typed, or
LinkedIn silently cuts the post at the first one. ``#word`` is kept as a hashtag, which is what
someone writing ``#advent`` means.
"""

from __future__ import annotations

import regex

_RESERVED = frozenset("|{}@[]()<>#\\*_~")
# A hashtag: '#' at a word start, followed by letters or digits (any script).
_HASHTAG = regex.compile(r"(?<![\p{L}\p{N}_])#(?=[\p{L}\p{N}])")
_TEMPLATE = regex.compile(r"\{hashtag\|\\?(#|\uff03)\|([^}]*)\}")
_ESCAPE = regex.compile(r"\\(.)", regex.DOTALL)


def to_little(text: str) -> str:
    """Escape ``text`` so LinkedIn shows it as written, hashtags staying hashtags."""
    keep = {match.start() for match in _HASHTAG.finditer(text)}
    return "".join(
        f"\\{char}" if char in _RESERVED and index not in keep else char
        for index, char in enumerate(text)
    )


def from_little(commentary: str) -> str:
    """The text a reader sees for ``commentary``: templates resolved, escapes removed."""
    return _ESCAPE.sub(r"\1", _TEMPLATE.sub(r"\1\2", commentary))
