"""The ledger: every delivery's state in SQLite (WAL), changed only by checked transitions.

The claim (``CLAIM_SQL``) is one conditional UPDATE, committed before the platform is
called, so two processes never both publish a delivery. Times are TEXT in one fixed UTC ISO
form. The same ``Ledger`` runs on a shared PostgreSQL (``--ledger URL``, backend.py and
postgres.py): its SQL is written once in SQLite's parameter style and the backend translates
it (dialect.py); the claim adds ``FOR UPDATE SKIP LOCKED`` there. A stale claim's release and
the publisher's outcomes are conditional on the claim token, so of two racing writers exactly
one wins. On a shared ledger a claim is a lease: ``renew`` keeps it while publishing, and a
claim not renewed for the lease time is released by another daemon (``release_dead_claims``).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any

from klapper.ledger.backend import LEDGER_FILE as LEDGER_FILE
from klapper.ledger.backend import Backend, Row, SqliteBackend
from klapper.ledger.dialect import LOCKS, Dialect, placeholders
from klapper.ledger.events import EventLog
from klapper.ledger.faults import StateError
from klapper.ledger.owner import current_owner
from klapper.ledger.queries import CLAIMABLE, LedgerQueries, row_to_delivery
from klapper.ledger.schema import (
    COMPONENT,
    EVENTS,
    EVENTS_MIGRATIONS,
    MIGRATIONS,
    Migration,
)
from klapper.ledger.states import (
    EVERY_PART,
    TRANSITIONS,
    Delivery,
    PartRecord,
    State,
    delivery_id,
    from_utc_text,
    utc_text,
)
from klapper.ledger.url import is_postgres_url

log = logging.getLogger("klapper.ledger")

#: why a delivery that came due before the ledger could have seen it is UNKNOWN
UNSEEN_REASON = (
    "came due before this ledger was created or rebuilt: klapper looks on the"
    " platform before posting it"
)

_CLAIM = """
UPDATE deliveries
   SET state = 'claimed', claim_token = :token, claim_owner = :owner, claimed_at = :now,
       updated_at = :now
 WHERE id IN (SELECT id FROM deliveries WHERE {pick} {{lock}})
RETURNING *
"""

#: The claim of one delivery. ``{lock}`` is ``dialect.LOCKS[dialect]``: empty on SQLite (one
#: writer at a time already), ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (required there).
CLAIM_SQL = _CLAIM.format(pick=f"id = :id AND {CLAIMABLE}")

#: The claim of the oldest ``:limit`` claimable deliveries at once: how several daemons on one
#: PostgreSQL ledger share the work (each skips the rows another is claiming).
CLAIM_BATCH_SQL = _CLAIM.format(pick=f"{CLAIMABLE} ORDER BY due, id LIMIT :limit")

#: A part is on the platform: the claim must still be held (``RETURNING id`` says so); the
#: next part is not in doubt, unless the ledger never saw the delivery (``EVERY_PART``, -1) ...
RECORD_PART_HOLD = """
UPDATE deliveries SET in_flight = CASE WHEN in_flight = -1 THEN -1 END, claimed_at = ?,
       updated_at = ?
 WHERE id = ? AND claim_token = ? AND state = 'claimed' RETURNING id
"""
#: ... and then where the part is, in the same transaction.
RECORD_PART_INSERT = """
INSERT INTO parts (delivery_id, part, remote_id, url, published_at, ref) VALUES (?, ?, ?, ?, ?, ?)
"""

#: columns a transition may set besides ``state``
_COLUMNS = frozenset(
    {
        "attempts",
        "retry_at",
        "in_flight",
        "claim_token",
        "claim_owner",
        "claimed_at",
        "remote_id",
        "url",
        "published_at",
        "reason",
        "due",
        "content_hash",
        "slotted",
        "source",
        "first_line",
        "post_id",
        "occurrence",
    }
)


class ClaimLost(RuntimeError):
    """This process's claim is gone: its lease ran out and another daemon took it over."""


def claim_sql(*, dialect: Dialect = "sqlite", batch: bool = False) -> str:
    """The claim in ``dialect``: of ``:id`` (``CLAIM_SQL``), or of ``:limit`` (``CLAIM_BATCH_SQL``)."""
    template = CLAIM_BATCH_SQL if batch else CLAIM_SQL
    return placeholders(template.format(lock=LOCKS[dialect]), dialect=dialect)


def transition_sql(
    *, columns: Iterable[str], expect: Iterable[State], token: bool, dialect: Dialect = "sqlite"
) -> str:
    """The conditional UPDATE of ``Ledger.update``: only from ``expect`` (and the claim token).

    Parameters are ``:id``, ``:now``, one per column and ``:token`` when ``token``.
    """
    assignments = ", ".join(f"{name} = :{name}" for name in columns)
    states = ", ".join(f"'{State(old).value}'" for old in expect)
    sql = (
        f"UPDATE deliveries SET {assignments}, updated_at = :now"
        f" WHERE id = :id AND state IN ({states})"
    )
    if token:
        sql += " AND claim_token = :token"
    return placeholders(sql + " RETURNING *", dialect=dialect)


def _sql_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc_text(value)
    if isinstance(value, State):
        return value.value
    if isinstance(value, bool):
        return int(value)
    return value


class Ledger(LedgerQueries):
    """One open ledger, on SQLite (a ``Path``) or a shared PostgreSQL (a ``PostgresBackend``).

    Thread-safe and process-safe on both. ``shared`` says that several daemons, maybe on
    several machines, use it at once: claims are then leases (``renew``), and the repository
    lock (repolock.py) does not apply.
    """

    def __init__(self, where: Path | Backend) -> None:
        self._backend: Backend = SqliteBackend(where) if isinstance(where, Path) else where
        self.dialect: Dialect = self._backend.dialect
        self.shared = self._backend.shared
        self.where = self._backend.where
        #: the SQLite file (None on PostgreSQL)
        self.path: Path | None = where if isinstance(where, Path) else None
        self._lock = threading.RLock()
        self._components: dict[str, int] = {}
        self._owner = current_owner()
        try:
            self.version = self._backend.migrate(component=COMPONENT, migrations=MIGRATIONS)
            if self.shared:
                self.ensure_schema(component=EVENTS, migrations=EVENTS_MIGRATIONS)
        except BaseException:
            self._backend.close()
            raise

    @classmethod
    def open(cls, *, state: Path, url: str | None = None) -> Ledger:
        """The ledger at ``url`` (PostgreSQL), else in the state folder (created when new)."""
        if url is None:
            return cls(state / LEDGER_FILE)
        if not is_postgres_url(url):
            raise StateError(
                f"--ledger: {url.split(':', 1)[0]}: not a PostgreSQL URL; give"
                " postgresql://USER@HOST/DATABASE, or leave it out for SQLite in --state"
            )
        from klapper.ledger.postgres import PostgresBackend  # psycopg only when asked for

        return cls(PostgresBackend(url))

    def close(self) -> None:
        self._backend.close()

    def transaction(self) -> AbstractContextManager[Any]:
        """One transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: a pooled connection).

        Public for components keeping tables in the ledger (engagement): the connection it
        yields is theirs for the block, its SQL in SQLite's parameter style on both backends;
        a fault of the store becomes a ``StateError``.
        """
        return self._backend.transaction()

    def try_lock(self, name: str) -> AbstractContextManager[bool]:
        """Whether this process alone may do ``name`` now (an advisory lock on PostgreSQL)."""
        return self._backend.try_lock(name)

    def ensure_schema(self, *, component: str, migrations: Sequence[Migration]) -> int:
        """Bring a component's own tables in the ledger up to date (once per open ledger).

        For a component that keeps tables beside the ledger's (engagement): it calls this
        before its first read or write, with its own ordered list of migrations (see
        schema.py). Returns the component's version; refuses one newer than ``migrations``.
        """
        with self._lock:
            if component not in self._components:
                self._components[component] = self._backend.migrate(
                    component=component, migrations=migrations
                )
            return self._components[component]

    def read(self, sql: str, params: Mapping[str, Any] | Iterable[Any] = ()) -> list[Row]:
        """Rows of one query on a component's own tables.

        For components keeping tables in the ledger (engagement); writes go through
        ``transaction``. A fault of the store becomes a ``StateError`` naming it. The ledger's
        own tables are read through its named questions (queries.py), never through this.
        """
        return self._backend.read(sql, params)

    def _read(self, sql: str, params: Mapping[str, Any] | Iterable[Any] = ()) -> list[Row]:
        return self._backend.read(sql, params)

    # --- planning --------------------------------------------------------------------------

    def insert_planned(
        self,
        *,
        post_id: str,
        occurrence: str,
        account: str,
        platform: str,
        due: datetime,
        content_hash: str,
        slotted: bool,
        source: str,
        first_line: str,
        now: datetime,
    ) -> Delivery:
        """``add_planned``, or the row another process planned for the same key meanwhile."""
        row = self.add_planned(
            post_id=post_id,
            occurrence=occurrence,
            account=account,
            platform=platform,
            due=due,
            content_hash=content_hash,
            slotted=slotted,
            source=source,
            first_line=first_line,
            now=now,
        )
        found = row or self.by_key(post_id=post_id, occurrence=occurrence, account=account)
        assert found is not None, "a delivery key once planned is never deleted"
        return found

    def add_planned(
        self,
        *,
        post_id: str,
        occurrence: str,
        account: str,
        platform: str,
        due: datetime,
        content_hash: str,
        slotted: bool,
        source: str,
        first_line: str,
        now: datetime,
    ) -> Delivery | None:
        """A new delivery; None when another process planned its key first (syncs race).

        It is PLANNED, or UNKNOWN when it came due before ``trust_from``: a ledger that was
        new or empty then cannot know whether it went out, so the publisher looks on the
        platform (``find``) for every part before posting anything. Its id comes from its
        key (salted if that id is taken by a renamed delivery).
        """
        key = f"{post_id}|{occurrence}|{account}"
        try:
            with self.transaction() as conn:
                if conn.execute(
                    "SELECT 1 FROM deliveries WHERE post_id = ? AND occurrence = ? AND account = ?",
                    (post_id, occurrence, account),
                ).fetchone():
                    return None
                salt = 0
                while conn.execute(
                    "SELECT 1 FROM deliveries WHERE id = ?", (delivery_id(key, salt=salt),)
                ).fetchone():
                    salt += 1  # the id's first owner was renamed away; keep ids unique
                trust = conn.execute(
                    "SELECT value FROM ledger_meta WHERE name = 'trust_from'"
                ).fetchone()
                unseen = trust is not None and utc_text(due) < trust[0]
                row = conn.execute(
                    "INSERT INTO deliveries (id, post_id, occurrence, account, platform, due, slotted,"
                    " content_hash, source, first_line, state, retry_at, in_flight, reason,"
                    " created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
                    (
                        delivery_id(key, salt=salt),
                        post_id,
                        occurrence,
                        account,
                        platform,
                        utc_text(due),
                        int(slotted),
                        content_hash,
                        source,
                        first_line[:200],
                        "unknown" if unseen else "planned",
                        utc_text(due) if unseen else None,
                        EVERY_PART if unseen else None,
                        UNSEEN_REASON if unseen else None,
                        utc_text(now),
                        utc_text(now),
                    ),
                ).fetchone()
        except self._backend.integrity_errors():
            return None  # a shared ledger: another daemon planned it between our look and write
        return row_to_delivery(row)

    def is_empty(self) -> bool:
        return not self._read("SELECT 1 FROM deliveries LIMIT 1")

    def trust_from(self) -> datetime | None:
        """Deliveries due before this were never seen by this ledger (it was new or empty)."""
        rows = self._read("SELECT value FROM ledger_meta WHERE name = 'trust_from'")
        return from_utc_text(rows[0][0]) if rows else None

    def update(
        self,
        delivery: str,
        *,
        now: datetime,
        expect: Iterable[State],
        state: State | None = None,
        token: str | None = None,
        **columns: Any,
    ) -> Delivery | None:
        """Change a delivery if it is still in one of ``expect`` (and holds ``token``).

        Returns the new row, or None when another process got there first. A move that
        ``TRANSITIONS`` does not allow is a programming error and raises ValueError.
        """
        expected = tuple(expect)
        if state is not None:
            for old in expected:
                if old is not state and state not in TRANSITIONS[old]:
                    raise ValueError(f"a delivery cannot go from {old.value} to {state.value}")
            columns["state"] = state
        unknown = set(columns) - _COLUMNS - {"state"}
        if unknown:
            raise ValueError(f"not a delivery column: {', '.join(sorted(unknown))}")
        params = {name: _sql_value(value) for name, value in columns.items()}
        params.update(id=delivery, now=utc_text(now))
        if token is not None:
            params["token"] = token
        sql = transition_sql(columns=columns, expect=expected, token=token is not None)
        try:
            with self.transaction() as conn:
                row = conn.execute(sql, params).fetchone()
        except self._backend.integrity_errors():
            if "post_id" not in columns:
                raise
            return None  # a rename raced with another process that planned the new name
        return row_to_delivery(row) if row else None

    def mark_missed(self, *, before: datetime, now: datetime) -> list[Delivery]:
        """Planned deliveries due before ``before`` (past the catch-up window) become MISSED."""
        with self.transaction() as conn:
            rows = conn.execute(
                "UPDATE deliveries SET state = 'missed', reason = :reason, updated_at = :now"
                " WHERE state = 'planned' AND due < :before RETURNING *",
                {
                    "before": utc_text(before),
                    "now": utc_text(now),
                    "reason": "came due while klapper was not running, beyond the catch-up window",
                },
            ).fetchall()
        return [row_to_delivery(row) for row in rows]

    def assign_slots(self, slots: Mapping[str, datetime]) -> None:
        """Remember the slot each post was given (first assignment wins)."""
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO slots (post_id, due) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(post, utc_text(due)) for post, due in slots.items()],
            )

    def move_slot(self, *, old: str, new: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM slots WHERE post_id = ?", (new,))
            conn.execute("UPDATE slots SET post_id = ? WHERE post_id = ?", (new, old))

    def drop_slots(self, post_ids: Iterable[str]) -> None:
        with self.transaction() as conn:
            conn.executemany("DELETE FROM slots WHERE post_id = ?", [(p,) for p in post_ids])

    # --- publishing ------------------------------------------------------------------------

    def claim(self, delivery: str, *, token: str, owner: str, now: datetime) -> Delivery | None:
        """Claim a due delivery for this process; None if it is not claimable (or taken)."""
        with self.transaction() as conn:
            row = conn.execute(
                CLAIM_SQL.format(lock=LOCKS[self.dialect]),
                {"id": delivery, "token": token, "owner": owner, "now": utc_text(now)},
            ).fetchone()
        return row_to_delivery(row) if row else None

    def record_part(self, record: PartRecord, *, token: str, now: datetime) -> None:
        """One part is on the platform: store where; its outcome is no longer in doubt.

        ``record`` is the ledger's own plain record (the publisher converts what the adapter
        returned); ``token`` must still hold the delivery's claim.
        """
        delivery = record.delivery_id
        with self.transaction() as conn:
            held = conn.execute(
                RECORD_PART_HOLD, (utc_text(now), utc_text(now), delivery, token)
            ).fetchone()
            if held is None:
                raise ClaimLost(f"delivery {delivery} is no longer claimed by this process")
            conn.execute(
                RECORD_PART_INSERT,
                (
                    delivery,
                    record.part,
                    record.remote_id,
                    record.url,
                    utc_text(record.published_at),
                    json.dumps(dict(record.ref)),
                ),
            )

    def release_dead_claims(self, *, now: datetime, alive: Any) -> list[Delivery]:
        """Claims whose process died become UNKNOWN (to be looked for before any retry).

        ``alive(delivery) -> bool`` decides; the update is conditional on the claim token,
        so a claim that finished meanwhile is left alone.
        """
        claimed = self.claimed()
        released = []
        for delivery in claimed:
            if alive(delivery):
                continue
            # The next part not recorded may or may not have reached the platform.
            part = len(self.parts(delivery.id))
            row = self.update(
                delivery.id,
                now=now,
                expect=[State.CLAIMED],
                state=State.UNKNOWN,
                token=delivery.claim_token,
                retry_at=now,
                claim_token=None,
                in_flight=EVERY_PART if delivery.in_flight == EVERY_PART else part,
                reason=f"the process publishing it ({delivery.claim_owner}) stopped during"
                f" part {part + 1}; klapper looks on the platform before trying again",
            )
            if row is not None:
                released.append(row)
        return released

    # --- accounts --------------------------------------------------------------------------

    def set_account(self, name: str, *, now: datetime, **columns: Any) -> None:
        """Pause/resume an account or set its rate-limit wait (None clears a column)."""
        allowed = {"paused_at", "pause_reason", "wait_until", "wait_reason"}
        if not columns or set(columns) - allowed:
            raise ValueError(f"account columns are {', '.join(sorted(allowed))}")
        names = ", ".join(columns)
        marks = ", ".join(f":{c}" for c in columns)
        updates = ", ".join(f"{c} = :{c}" for c in columns)
        params = {c: _sql_value(v) for c, v in columns.items()}
        params.update(name=name, now=utc_text(now))
        with self.transaction() as conn:
            conn.execute(
                f"INSERT INTO accounts (name, {names}, updated_at) VALUES (:name, {marks}, :now)"
                f" ON CONFLICT (name) DO UPDATE SET {updates}, updated_at = :now",
                params,
            )

    # --- leases (a shared ledger) ----------------------------------------------------------

    def renew(self, delivery: str, *, token: str, now: datetime) -> bool:
        """Renew this process's claim (its lease starts again at ``now``); False if lost."""
        with self.transaction() as conn:
            row = conn.execute(
                "UPDATE deliveries SET claimed_at = ? WHERE id = ? AND claim_token = ?"
                " AND state = 'claimed' RETURNING id",
                (utc_text(now), delivery, token),
            ).fetchone()
        return row is not None

    # --- events (a shared ledger keeps every process's) ------------------------------------

    def attach(self, events: EventLog) -> None:
        """On a shared ledger, every event ``events`` writes is kept in the ledger too."""
        if self.shared and self.keep_event not in events.listeners:
            events.listeners.append(self.keep_event)

    def keep_event(self, record: Mapping[str, Any]) -> None:
        """One event line in the ``events`` table, under this process's name."""
        try:
            with self.transaction() as conn:
                conn.execute(
                    "INSERT INTO events (id, ts, event, delivery, account, owner, line)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        uuid.uuid4().hex,
                        utc_text(datetime.fromisoformat(record["ts"])),
                        record["event"],
                        record.get("delivery"),
                        record.get("account"),
                        self._owner,
                        json.dumps(record, ensure_ascii=False, default=str),
                    ),
                )
        except StateError as exc:  # the local events.jsonl has it; the ledger's rows are whole
            log.warning("the event %s was not kept in the ledger: %s", record["event"], exc)

    def events(self, *, since: datetime, limit: int = 1000) -> list[dict[str, Any]]:
        """Events of every process since ``since``, oldest first, each with its ``owner``."""
        rows = self._read(
            "SELECT owner, line FROM events WHERE ts >= ? ORDER BY ts, id LIMIT ?",
            (utc_text(since), limit),
        )
        return [{**json.loads(row["line"]), "owner": row["owner"]} for row in rows]

    def writers(self, *, since: datetime) -> list[dict[str, Any]]:
        """Each process that wrote events since ``since``: when last, how many published and
        failed for good; the latest first (for `klapper status` on a shared ledger)."""
        rows = self._read(
            "SELECT owner, MAX(ts) AS last_seen,"
            " SUM(CASE WHEN event = 'published' THEN 1 ELSE 0 END) AS published,"
            " SUM(CASE WHEN event = 'failed' THEN 1 ELSE 0 END) AS failed"
            " FROM events WHERE ts >= ? GROUP BY owner ORDER BY MAX(ts) DESC, owner",
            (utc_text(since),),
        )
        return [
            {
                "owner": row["owner"],
                "last_seen": from_utc_text(row["last_seen"]),
                "published": int(row["published"]),
                "failed": int(row["failed"]),
            }
            for row in rows
        ]
