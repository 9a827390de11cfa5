"""The one place where the ledger's SQL differs between SQLite and PostgreSQL.

The ledger's statements are written once, in SQLite's parameter style (``?`` and ``:name``),
and its DDL runs unchanged on both (TEXT, INTEGER, REFERENCES, ``ON CONFLICT``, ``RETURNING``
are common ground; tests/ledger/test_postgres.py runs it on a real server). Two things differ:

- the claim's row lock: nothing on SQLite, whose writer lock already serialises claims;
  ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, where it is *required*, not an optimisation:
  under READ COMMITTED the claim's ``WHERE id IN (SELECT ...)`` without it is re-checked
  against the old row after a concurrent claim commits, and both claimers win;
- the parameter style: psycopg takes ``%s`` and ``%(name)s`` (and a literal ``%`` as ``%%``).
"""

from __future__ import annotations

import re
from typing import Literal

Dialect = Literal["sqlite", "postgresql"]

#: what the claim's subquery adds to lock the rows it picks
LOCKS: dict[Dialect, str] = {"sqlite": "", "postgresql": "FOR UPDATE SKIP LOCKED"}

# A quoted literal or a comment is kept whole: a ':' or '?' in one is not a parameter.
_TOKENS = re.compile(r"'(?:[^']|'')*'|--[^\n]*|::|\?|:([A-Za-z_]\w*)|%")


def placeholders(sql: str, *, dialect: Dialect) -> str:
    """``sql`` with its parameters in ``dialect``'s style (unchanged for SQLite)."""
    if dialect == "sqlite":
        return sql

    def swap(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        if match.group(1):
            return f"%({match.group(1)})s"
        # A quoted literal or a comment keeps its ':' and '?'; psycopg reads '%' even there.
        return token.replace("%", "%%")

    return _TOKENS.sub(swap, sql)
