"""The engagement tables in the ledger's file: the engagement component's migrations.

``EngagementStore`` applies them through ``Ledger.ensure_schema`` when it is constructed; the
ledger itself knows nothing of them (see ledger/schema.py). The SQL is portable like the
ledger's own (TEXT times in one UTC ISO form, no SQLite-only functions): tests/scheduler/
test_postgres.py runs it on PostgreSQL. Append to ``MIGRATIONS``; never edit a released entry.
"""

from __future__ import annotations

from klapper.ledger.schema import Migration

_READINGS = """
CREATE TABLE readings (
    delivery_id TEXT NOT NULL REFERENCES deliveries(id),
    part        INTEGER NOT NULL,         -- 0 = the post, 1.. = thread follow-ups
    remote_id   TEXT NOT NULL,
    account     TEXT NOT NULL,
    platform    TEXT NOT NULL,
    stage       INTEGER NOT NULL,         -- the scheduled age it answers, seconds after publishing
    taken_at    TEXT NOT NULL,            -- UTC
    found       INTEGER NOT NULL,         -- 0: the platform did not return the post (deleted?)
    likes       INTEGER,                  -- NULL: the platform does not say (never 0 for that)
    reposts     INTEGER,
    replies     INTEGER,
    quotes      INTEGER,
    bookmarks   INTEGER,
    views       INTEGER,
    PRIMARY KEY (delivery_id, part, stage)
)
"""

_INBOX = """
CREATE TABLE inbox (
    id          TEXT PRIMARY KEY,         -- short and stable, for `klapper inbox done ID`
    account     TEXT NOT NULL,
    platform    TEXT NOT NULL,
    remote_id   TEXT NOT NULL,
    kind        TEXT NOT NULL,            -- reply | mention
    author      TEXT NOT NULL,
    text        TEXT NOT NULL,
    url         TEXT,
    created_at  TEXT NOT NULL,
    in_reply_to TEXT,                     -- remote id of the post it answers
    delivery_id TEXT,                     -- our delivery it answers (directly or down a thread)
    by_self     INTEGER NOT NULL,         -- written by the account itself: never listed
    attention   TEXT,                     -- complaint | question | NULL (engagement.attention)
    seen_at     TEXT NOT NULL,
    answered_at TEXT,                     -- the account answered it on the platform
    answered_by TEXT,                     -- remote id of that answer
    done_at     TEXT,                     -- `klapper inbox done`
    UNIQUE (account, remote_id)
)
"""

_ACCOUNTS = """
CREATE TABLE engagement_accounts (
    account          TEXT PRIMARY KEY,
    inbox_checked_at TEXT,                -- replies and mentions were read up to here
    wait_until       TEXT,                -- polling's own rate-limit wait (not the publisher's)
    wait_reason      TEXT,
    updated_at       TEXT NOT NULL
)
"""

_MARKS = """
CREATE TABLE engagement_marks (
    name       TEXT PRIMARY KEY,          -- a cursor (event log offset) or a notice already sent
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
)
"""

_VISITS = """
CREATE TABLE visits (
    tool        TEXT NOT NULL,            -- matomo | plausible
    campaign    TEXT NOT NULL,            -- utm_campaign as the tool reports it
    source      TEXT NOT NULL,            -- utm_source ('' when the tool does not split)
    day         TEXT NOT NULL,            -- the site's own day, YYYY-MM-DD
    visits      INTEGER NOT NULL,
    visitors    INTEGER,                  -- NULL: the tool does not say
    goals       INTEGER,                  -- goal conversions; NULL: the tool does not say
    read_at     TEXT NOT NULL,            -- UTC, when these figures were read
    PRIMARY KEY (tool, campaign, source, day)
)
"""

_VISIT_STAGES = """
CREATE TABLE visit_stages (
    delivery_id TEXT NOT NULL REFERENCES deliveries(id),
    stage       INTEGER NOT NULL,         -- the scheduled age read, seconds after publishing
    taken_at    TEXT NOT NULL,            -- UTC
    PRIMARY KEY (delivery_id, stage)
)
"""

#: the name this component's version goes by in the ledger's ``schema_versions``
COMPONENT = "engagement"

MIGRATIONS: list[Migration] = [
    # 1: readings, the inbox, polling waits and cursors (the ledger's migration 2 before
    # components: ledgers made then are converted to engagement version 1).
    (
        _READINGS,
        "CREATE INDEX readings_account_taken ON readings (account, taken_at)",
        _INBOX,
        "CREATE INDEX inbox_open ON inbox (account, created_at)",
        _ACCOUNTS,
        _MARKS,
    ),
    # 2: visits and goals from the website's analytics, and which stages were read for them.
    (_VISITS, _VISIT_STAGES),
]
