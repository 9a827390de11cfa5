"""The ledger's schema as an ordered list of migrations, applied once each, in order.

To change the schema, append to ``MIGRATIONS`` (never edit or reorder a released entry): a
tuple of SQL statements, or a function taking the open connection. The table
``schema_version`` holds how many migrations a ledger has had; opening a ledger applies the
missing ones in one transaction, so a ledger is never half-migrated. Engagement tables, for
example, are one more entry at the end. Keep the SQL portable (TEXT times in one fixed UTC
ISO form, no SQLite-only functions) so that the same statements run on PostgreSQL:
tests/engine/test_postgres.py runs every migration there unchanged (docs/postgresql.md).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from klapper.engagement.schema import MIGRATION as ENGAGEMENT

Migration = Sequence[str] | Callable[[sqlite3.Connection], None]

_DELIVERIES = """
CREATE TABLE deliveries (
    id           TEXT PRIMARY KEY,        -- stable: derived from post id, occurrence, account
    post_id      TEXT NOT NULL,           -- follows the post when its file is renamed
    occurrence   TEXT NOT NULL DEFAULT '',-- '' for a one-off post, the UTC time for a repeat
    account      TEXT NOT NULL,
    platform     TEXT NOT NULL,
    due          TEXT NOT NULL,           -- UTC, ISO 8601 with microseconds
    slotted      INTEGER NOT NULL DEFAULT 0,
    content_hash TEXT NOT NULL,           -- what this account receives (edits, renames)
    source       TEXT NOT NULL DEFAULT '',-- the post's file when last seen
    first_line   TEXT NOT NULL DEFAULT '',
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    retry_at     TEXT,                    -- FAILED/UNKNOWN: next try; NULL when final
    in_flight    INTEGER,                 -- part being published / whose outcome is unknown
    claim_token  TEXT,
    claim_owner  TEXT,                    -- host:pid:start of the claiming process
    claimed_at   TEXT,
    remote_id    TEXT,
    url          TEXT,
    published_at TEXT,
    reason       TEXT,                    -- the platform's or klapper's words on the state
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
)
"""

_PARTS = """
CREATE TABLE parts (
    delivery_id  TEXT NOT NULL REFERENCES deliveries(id),
    part         INTEGER NOT NULL,        -- 0 = the post, 1.. = thread replies
    remote_id    TEXT NOT NULL,
    url          TEXT,
    published_at TEXT NOT NULL,
    ref          TEXT NOT NULL DEFAULT '{}',  -- JSON: what replies need (e.g. a Bluesky cid)
    PRIMARY KEY (delivery_id, part)
)
"""

_ACCOUNTS = """
CREATE TABLE accounts (
    name         TEXT PRIMARY KEY,
    paused_at    TEXT,                    -- credential expired/revoked; `klapper retry` resumes
    pause_reason TEXT,
    wait_until   TEXT,                    -- rate limited until then
    wait_reason  TEXT,
    updated_at   TEXT NOT NULL
)
"""

_SLOTS = """
CREATE TABLE slots (
    post_id TEXT PRIMARY KEY,             -- a post with no time keeps the slot it was given
    due     TEXT NOT NULL
)
"""

MIGRATIONS: list[Migration] = [
    # 1: deliveries with per-part progress, account pauses and waits, assigned slots.
    (
        _DELIVERIES,
        "CREATE UNIQUE INDEX deliveries_key ON deliveries (post_id, occurrence, account)",
        "CREATE INDEX deliveries_state_due ON deliveries (state, due)",
        "CREATE INDEX deliveries_updated ON deliveries (updated_at)",
        _PARTS,
        _ACCOUNTS,
        _SLOTS,
    ),
    # 2: engagement readings, the inbox, polling waits and cursors (SQL in engagement/schema.py).
    ENGAGEMENT,
    # 3: what the ledger knows of itself; ``trust_from``: deliveries due before it were never
    # seen by this ledger (it was new, emptied or rebuilt then): they are looked for first.
    ("CREATE TABLE ledger_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",),
]


def migrate(conn: sqlite3.Connection, *, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the schema up to date; returns the version. Refuses a ledger from a newer klapper."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        version = row[0] if row else 0
        if row is None:
            conn.execute("INSERT INTO schema_version (version) VALUES (0)")
        if version > len(migrations):
            raise RuntimeError(
                f"the ledger has schema version {version}, this klapper knows {len(migrations)}:"
                " upgrade klapper, or point --state at another folder"
            )
        for step in migrations[version:]:
            if callable(step):
                step(conn)
            else:
                for statement in step:
                    conn.execute(statement)
        conn.execute("UPDATE schema_version SET version = ?", (len(migrations),))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(migrations)
