"""The ledger's schema: each component's ordered list of migrations, applied once each, in order.

A component (the ledger itself, engagement, ...) owns its tables in the ledger's file and
brings them up to date with ``migrate(conn, component=..., migrations=...)``: the ledger does it
for its own when opened, and ``Ledger.ensure_schema`` for another component when that
component is first used (engagement's store, when it is constructed). To change a schema, append
to its component's list (never edit or reorder a released entry): a tuple of SQL statements, or
a function taking the open connection. ``schema_versions`` holds how many migrations each
component has had; the missing ones are applied in one transaction, so a component is never
half-migrated. Keep the SQL portable (TEXT times in one fixed UTC ISO form, no SQLite-only
functions) so that the same statements run on PostgreSQL: tests/ledger/test_postgres.py runs
every component's migrations there unchanged (docs/postgresql.md).

Ledgers made before components kept one count in ``schema_version`` over one list, which was
``_LEGACY``'s order; the first open converts that count into one version per component. The old
table is kept at ``_LEGACY``'s length while nothing newer was applied, so an older klapper still
opens the ledger, and set past it once anything newer was, so an older klapper refuses it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from klapper.ledger.dialect import Dialect

#: a tuple of SQL statements, or a function given the open connection (either backend's)
Migration = Sequence[str] | Callable[[Any], None]

#: the advisory lock that makes PostgreSQL migrations one at a time (any constant would do)
_MIGRATION_LOCK = 0x6B6C6170  # 'klap'

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

_EVENTS = """
CREATE TABLE events (
    id       TEXT PRIMARY KEY,            -- random: unique across processes and machines
    ts       TEXT NOT NULL,               -- UTC, as the ledger's other times
    event    TEXT NOT NULL,
    delivery TEXT,
    account  TEXT,
    owner    TEXT NOT NULL,               -- host:pid:start of the process that wrote it
    line     TEXT NOT NULL                -- the JSON line, as in that process's events.jsonl
)
"""

#: the ledger's own component
COMPONENT = "ledger"

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
    # 2: what the ledger knows of itself; ``trust_from``: deliveries due before it were never
    # seen by this ledger (it was new, emptied or rebuilt then): they are looked for first.
    ("CREATE TABLE ledger_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",),
]

#: the events component: made only in a shared (PostgreSQL) ledger, where several daemons
#: write what they did for `klapper status` (a SQLite ledger has one events.jsonl beside it)
EVENTS = "events"
EVENTS_MIGRATIONS: list[Migration] = [
    # 1: every process's event lines (each also appends to its own state folder's log).
    (_EVENTS, "CREATE INDEX events_ts ON events (ts)"),
]


#: the one list ledgers had before components: which component's version each entry was
_LEGACY: tuple[tuple[str, int], ...] = (("ledger", 1), ("engagement", 1), ("ledger", 2))


def migrate(
    conn: Any,
    *,
    component: str = COMPONENT,
    migrations: Sequence[Migration] = MIGRATIONS,
    dialect: Dialect = "sqlite",
) -> int:
    """Bring ``component``'s tables up to date; returns its version.

    On SQLite it takes the write lock itself (BEGIN IMMEDIATE); on PostgreSQL ``conn`` is in
    a transaction of the caller's, and an advisory lock makes concurrent migrators wait their
    turn. Refuses a ledger whose ``component`` is newer than this klapper knows.
    """
    if dialect == "postgresql":
        conn.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
        return _apply(conn, component=component, migrations=migrations, dialect=dialect)
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _apply(conn, component=component, migrations=migrations, dialect=dialect)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return version


def _apply(conn: Any, *, component: str, migrations: Sequence[Migration], dialect: Dialect) -> int:
    versions = _versions(conn, dialect=dialect)
    version = versions.get(component, 0)
    if version > len(migrations):
        raise RuntimeError(
            f"the ledger has {component} schema version {version}, this klapper knows"
            f" {len(migrations)}: upgrade klapper, or point --state at another folder"
        )
    for step in migrations[version:]:
        if callable(step):
            step(conn)
        else:
            for statement in step:
                conn.execute(statement)
    if version < len(migrations):
        conn.execute(
            "INSERT INTO schema_versions (component, version) VALUES (?, ?)"
            " ON CONFLICT (component) DO UPDATE SET version = excluded.version",
            (component, len(migrations)),
        )
        versions[component] = len(migrations)
        if dialect == "sqlite":
            _mark_legacy(conn, versions)  # only SQLite ledgers were ever opened by one list
    return len(migrations)


def _exists(conn: Any, table: str, *, dialect: Dialect) -> bool:
    if dialect == "postgresql":
        return bool(conn.execute("SELECT to_regclass(?) IS NOT NULL", (table,)).fetchone()[0])
    return (
        conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone() is not None
    )


def _versions(conn: Any, *, dialect: Dialect) -> dict[str, int]:
    """Each component's version; a ledger from before components is converted first."""
    fresh = not _exists(conn, "schema_versions", dialect=dialect)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_versions"
        " (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
    )
    if fresh and _exists(conn, "schema_version", dialect=dialect):
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        count = row[0] if row else 0
        if count > len(_LEGACY):
            raise RuntimeError(
                f"the ledger has schema version {count}, this klapper knows"
                f" {len(_LEGACY)}: upgrade klapper, or point --state at"
                " another folder"
            )
        conn.executemany(
            "INSERT INTO schema_versions (component, version) VALUES (?, ?)",
            list(_legacy_versions(count).items()),
        )
    rows = conn.execute("SELECT component, version FROM schema_versions")
    return {row[0]: row[1] for row in rows}


def _mark_legacy(conn: Any, versions: dict[str, int]) -> None:
    """Keep ``schema_version`` what an older klapper (one list) may read of this ledger.

    It reads ``_LEGACY``'s length only when the ledger holds exactly those migrations; any
    other mix (newer, or a component not yet made) is past what it knows, so it refuses the
    ledger rather than apply its list over tables that are already there.
    """
    count = len(_LEGACY) if versions == _legacy_versions(len(_LEGACY)) else len(_LEGACY) + 1
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    conn.execute("DELETE FROM schema_version")
    conn.execute("INSERT INTO schema_version (version) VALUES (?)", (count,))


def _legacy_versions(count: int) -> dict[str, int]:
    """Each component's version in a ledger that had the first ``count`` of ``_LEGACY``."""
    versions: dict[str, int] = {}
    for name, version in _LEGACY[:count]:
        versions[name] = max(versions.get(name, 0), version)
    return versions
