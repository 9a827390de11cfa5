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
    kind        TEXT NOT NULL,            -- reply | mention | review
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

_ANSWERS = """
CREATE TABLE answers (
    delivery_id TEXT PRIMARY KEY,         -- the answer's delivery in the ledger (reply:ITEM/HASH)
    item_id     TEXT NOT NULL,            -- the inbox item it answers
    text        TEXT NOT NULL,            -- as sent (placeholders filled)
    saved       TEXT,                     -- the saved reply it came from (replies/*.yaml name)
    created_at  TEXT NOT NULL
)
"""

#: a review's stars as its kept text starts with them (★★★★☆ ...), for rows kept before the
#: column: portable SQL (substr on characters in both; no LIKE, whose % the PostgreSQL driver
#: would read as a placeholder)
_RATING_FROM_TEXT = (
    "UPDATE inbox SET rating = CASE "
    + " ".join(
        f"WHEN substr(text, 1, 5) = '{chr(0x2605) * n}{chr(0x2606) * (5 - n)}' THEN {n}"
        for n in range(5, 0, -1)
    )
    + " END WHERE kind = 'review'"
)

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
    # 3: a review's stars in a column of their own (read back from the text of older rows);
    # answers sent from the inbox (`klapper inbox reply`), their text kept for a retry.
    (
        "ALTER TABLE inbox ADD COLUMN rating INTEGER",
        _RATING_FROM_TEXT,
        _ANSWERS,
        "CREATE INDEX answers_item ON answers (item_id)",
    ),
]
