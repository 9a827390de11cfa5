"""Which ledger to open (``--ledger`` / $KLAPPER_LEDGER), and its URL as messages show it."""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

#: the environment variable naming a shared ledger (``--ledger``)
LEDGER_ENV = "KLAPPER_LEDGER"


def ledger_url(option: str | None = None) -> str | None:
    """``--ledger``, else $KLAPPER_LEDGER; None means SQLite in the state folder."""
    value = option if option is not None else os.environ.get(LEDGER_ENV)
    return value or None


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def redact_url(url: str) -> str:
    """``url`` without its password (in the user part or as ``password=``): for messages."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        name = user.split(":", 1)[0]
        netloc = f"{name}:***@{host}" if ":" in user else f"{name}@{host}"
    query = urlencode(
        [(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query)], safe="*"
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
