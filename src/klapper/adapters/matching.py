"""How ``find`` recognises a post it may have published: one time window, one text comparison.

After a timeout a platform may hold the post or not. Adapters that cannot look a post up by its
idempotency key read the account's recent posts back to ``FIND_WINDOW`` before the due time and
compare texts with ``same_text``, after the platform's own rendering is undone (``shown_as``:
Mastodon drops the domain of local mentions, X rewrites links, LinkedIn escapes markup).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta

#: a post may carry a time this much before its due time (clocks differ; a publish starts early)
FIND_WINDOW = timedelta(minutes=10)


def find_since(due: datetime | None) -> datetime | None:
    """The oldest creation time a post due at ``due`` can have; None reads without a bound."""
    return due - FIND_WINDOW if due is not None else None


def _as_is(text: str) -> str:
    return text


def comparable(text: str, *, shown_as: Callable[[str], str] = _as_is) -> str:
    """``text`` as the platform shows it (``shown_as``), NFC, with single spaces."""
    return " ".join(shown_as(unicodedata.normalize("NFC", text)).split())


def same_text(found: str, written: str, *, shown_as: Callable[[str], str] = _as_is) -> bool:
    """Whether a post's text on the platform (``found``) is the text klapper ``written``."""
    return comparable(found, shown_as=shown_as) == comparable(written, shown_as=shown_as)
