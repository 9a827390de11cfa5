"""Helpers for the tests that look for leaked secrets."""

from __future__ import annotations


def chain_text(error: BaseException) -> str:
    """Everything an error says, including what it was raised from."""
    parts, current, seen = [], error, set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), repr(getattr(current, "args", ""))]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)
