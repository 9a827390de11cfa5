"""Reading the ledger: deliveries by id, key or state, parts, accounts, slots, what is due.

Others read through these (``published_deliveries`` is the engagement side's entry point);
writes go through ``Ledger`` in store.py.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from klapper.ledger.backend import Row
from klapper.ledger.states import (
    AccountState,
    Delivery,
    PartRecord,
    State,
    from_utc_text,
    utc_text,
)


def row_to_delivery(row: Row) -> Delivery:
    return Delivery(
        id=row["id"],
        post_id=row["post_id"],
        occurrence=row["occurrence"],
        account=row["account"],
        platform=row["platform"],
        due=datetime.fromisoformat(row["due"]),
        state=State(row["state"]),
        content_hash=row["content_hash"],
        slotted=bool(row["slotted"]),
        source=row["source"],
        first_line=row["first_line"],
        attempts=row["attempts"],
        retry_at=from_utc_text(row["retry_at"]),
        in_flight=row["in_flight"],
        claim_token=row["claim_token"],
        claim_owner=row["claim_owner"],
        claimed_at=from_utc_text(row["claimed_at"]),
        remote_id=row["remote_id"],
        url=row["url"],
        published_at=from_utc_text(row["published_at"]),
        reason=row["reason"],
        updated_at=from_utc_text(row["updated_at"]),
    )


def row_to_part(row: Row) -> PartRecord:
    return PartRecord(
        delivery_id=row["delivery_id"],
        part=row["part"],
        remote_id=row["remote_id"],
        url=row["url"],
        published_at=from_utc_text(row["published_at"]),  # type: ignore[arg-type]
        ref=json.loads(row["ref"]),
    )


@dataclass(frozen=True)
class PublishedDelivery:
    """A delivery that is on the platform, with every part's remote id (for engagement)."""

    delivery: Delivery
    parts: tuple[PartRecord, ...]

    @property
    def remote_ids(self) -> tuple[str, ...]:
        return tuple(part.remote_id for part in self.parts)


#: due now, whatever the account's state (a retry whose time came counts)
DUE = """
    (state = 'planned' AND due <= :now
     OR state IN ('failed', 'unknown') AND retry_at IS NOT NULL AND retry_at <= :now)
"""

#: Who may be claimed: due, and only for an account that is neither paused nor waiting out a
#: rate limit.
CLAIMABLE = (
    DUE
    + """
    AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.name = deliveries.account
                    AND (a.paused_at IS NOT NULL OR a.wait_until > :now))
"""
)

#: how an evergreen post's recurrences' occurrences begin (``evergreen:1`` is the first)
EVERGREEN = "evergreen:"

#: values per ``IN (...)``: far below SQLite's and PostgreSQL's limits on parameters
_IN_CHUNK = 500

#: will be tried by itself later: planned, or a failure/unknown with a retry time
_WAITING = "(state = 'planned' OR state IN ('failed', 'unknown') AND retry_at IS NOT NULL)"


class LedgerQueries:
    """Read-only questions, each named for what it answers; mixed into ``Ledger`` (``_read``).

    No code outside ``klapper.ledger`` writes SQL against the ledger's tables: a new question
    is a new method here, so its SQL stays portable (tests/ledger/test_postgres.py).
    """

    def _read(self, sql: str, params: Mapping[str, Any] | Iterable[Any] = ()) -> list[Row]:
        raise NotImplementedError

    def _select(
        self,
        where: str = "1 = 1",
        params: Mapping[str, Any] | Iterable[Any] = (),
        *,
        order: str = "due, id",
        limit: int | None = None,
    ) -> list[Delivery]:
        sql = f"SELECT * FROM deliveries WHERE {where} ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [row_to_delivery(row) for row in self._read(sql, params)]

    def deliveries(self) -> list[Delivery]:
        """Every delivery, oldest due first."""
        return self._select()

    def get(self, delivery: str) -> Delivery | None:
        found = self._select("id = ?", (delivery,))
        return found[0] if found else None

    def by_key(self, *, post_id: str, occurrence: str, account: str) -> Delivery | None:
        found = self._select(
            "post_id = ? AND occurrence = ? AND account = ?", (post_id, occurrence, account)
        )
        return found[0] if found else None

    def for_post(self, post_id: str, *, account: str | None = None) -> list[Delivery]:
        if account is None:
            return self._select("post_id = ?", (post_id,))
        return self._select("post_id = ? AND account = ?", (post_id, account))

    def post_ids(self) -> set[str]:
        """Every post id the ledger has a delivery for."""
        return {row[0] for row in self._read("SELECT DISTINCT post_id FROM deliveries")}

    def for_sync(self, *, start: datetime) -> list[Delivery]:
        """What planning compares against: all from ``start`` on, all open, all one-off posts."""
        return self._select(
            "due >= ? OR state IN ('planned', 'claimed', 'failed', 'unknown') OR occurrence = ''",
            (utc_text(start),),
        )

    def unclaimed(self) -> list[Delivery]:
        """Every delivery no process is publishing right now (those a rename may move)."""
        return self._select("state != 'claimed'")

    def claimed(self) -> list[Delivery]:
        """Every delivery some process holds a claim on."""
        return self._select("state = 'claimed'")

    def upcoming(self, *, limit: int) -> list[Delivery]:
        """Planned or being published, soonest first."""
        return self._select("state = 'planned' OR state = 'claimed'", limit=limit)

    def recently_published(self, *, since: datetime, limit: int) -> list[Delivery]:
        """On the platform (published or edited) since ``since``, newest first."""
        return self._select(
            "state IN ('published', 'edited') AND published_at >= ?",
            (utc_text(since),),
            order="published_at DESC, id",
            limit=limit,
        )

    def failed(self, *, limit: int) -> list[Delivery]:
        """Failed ones, retry pending or final, the latest change first."""
        return self._select("state = 'failed'", order="updated_at DESC, id", limit=limit)

    def final_failure_count(self) -> int:
        """How many failed for good (no retry will come by itself)."""
        rows = self._read(
            "SELECT COUNT(*) FROM deliveries WHERE state = 'failed' AND retry_at IS NULL"
        )
        return int(rows[0][0])

    def unknown(self, *, limit: int) -> list[Delivery]:
        """Those whose outcome is not known (looked for on the platform first), oldest due first."""
        return self._select("state = 'unknown'", limit=limit)

    def missed(self, *, since: datetime, limit: int) -> list[Delivery]:
        """Missed (came due beyond the catch-up window) and due since ``since``, latest first."""
        return self._select(
            "state = 'missed' AND due >= ?", (utc_text(since),), order="due DESC, id", limit=limit
        )

    def due(self, *, now: datetime) -> list[Delivery]:
        """Due at ``now`` whatever their account's state (paused, waiting), oldest first."""
        return self._select(DUE, {"now": utc_text(now)})

    def parts(self, delivery: str) -> list[PartRecord]:
        rows = self._read("SELECT * FROM parts WHERE delivery_id = ? ORDER BY part", (delivery,))
        return [row_to_part(row) for row in rows]

    def remote_ids(self, *, account: str | None = None) -> set[tuple[str, str]]:
        """(account, remote id) of every part of ours on a platform (of ``account`` only)."""
        sql = "SELECT d.account, p.remote_id FROM parts p JOIN deliveries d ON d.id = p.delivery_id"
        if account is None:
            return {(row[0], row[1]) for row in self._read(sql)}
        return {(row[0], row[1]) for row in self._read(sql + " WHERE d.account = ?", (account,))}

    def accounts(self) -> dict[str, AccountState]:
        return {
            row["name"]: AccountState(
                name=row["name"],
                paused_at=from_utc_text(row["paused_at"]),
                pause_reason=row["pause_reason"],
                wait_until=from_utc_text(row["wait_until"]),
                wait_reason=row["wait_reason"],
            )
            for row in self._read("SELECT * FROM accounts ORDER BY name")
        }

    def slots(self) -> dict[str, datetime]:
        return {
            row["post_id"]: from_utc_text(row["due"])  # type: ignore[misc]
            for row in self._read("SELECT post_id, due FROM slots")
        }

    def evergreen_context(
        self, *, post_ids: Collection[str], hashes: Collection[str], since: datetime
    ) -> list[Delivery]:
        """What planning evergreen posts weighs: every delivery of ``post_ids`` (when each
        went out), every one of the same content (``hashes``: the same text to an account),
        and every evergreen recurrence (occurrence ``evergreen:N``) due since ``since``."""
        found: dict[str, Delivery] = {}
        for column, values in (("post_id", sorted(post_ids)), ("content_hash", sorted(hashes))):
            for chunk in range(0, len(values), _IN_CHUNK):
                part = values[chunk : chunk + _IN_CHUNK]
                marks = ", ".join("?" * len(part))
                found.update((d.id, d) for d in self._select(f"{column} IN ({marks})", part))
        # The pattern as a parameter: a literal % would need escaping for psycopg.
        recurring = self._select(
            "occurrence LIKE ? AND due >= ?", (f"{EVERGREEN}%", utc_text(since))
        )
        found.update((d.id, d) for d in recurring)
        return sorted(found.values(), key=lambda d: (d.due, d.id))

    def claimable(self, *, now: datetime) -> list[Delivery]:
        """Everything that could be claimed right now, oldest first."""
        return self._select(CLAIMABLE, {"now": utc_text(now)})

    def next_try(self, delivery: Delivery, accounts: Mapping[str, AccountState]) -> datetime | None:
        """When ``delivery`` may next be tried (None: not by itself, or the account is paused)."""
        if delivery.state is State.PLANNED:
            when = delivery.due
        elif delivery.state in (State.FAILED, State.UNKNOWN) and delivery.retry_at is not None:
            when = delivery.retry_at
        else:
            return None
        account = accounts.get(delivery.account)
        if account is not None:
            if account.paused_at is not None:
                return None
            if account.wait_until is not None and account.wait_until > when:
                when = account.wait_until
        return when

    def waiting(
        self, *, account: str | None = None, changed_since: datetime | None = None
    ) -> list[Delivery]:
        """Deliveries that will be tried by themselves later (of ``account``, changed lately)."""
        where, params = [_WAITING], list[Any]()
        if account is not None:
            where.append("account = ?")
            params.append(account)
        if changed_since is not None:
            where.append("updated_at >= ?")
            params.append(utc_text(changed_since))
        return self._select(" AND ".join(where), params)

    def changed(self, *, since: datetime) -> list[Delivery]:
        """Deliveries changed at or after ``since`` (by any process)."""
        return self._select("updated_at >= ?", (utc_text(since),))

    def published_deliveries(
        self, *, since: datetime | None = None, account: str | None = None
    ) -> list[PublishedDelivery]:
        """Deliveries on the platform (published or edited since), with their parts' ids."""
        where = "d.state IN ('published', 'edited')"
        params: list[Any] = []
        if since is not None:
            where += " AND d.published_at >= ?"
            params.append(utc_text(since))
        if account is not None:
            where += " AND d.account = ?"
            params.append(account)
        rows = self._read(
            f"SELECT * FROM deliveries d WHERE {where} ORDER BY d.published_at, d.id", params
        )
        parts: dict[str, list[PartRecord]] = {}
        for row in self._read(
            f"SELECT p.* FROM parts p JOIN deliveries d ON d.id = p.delivery_id"
            f" WHERE {where} ORDER BY p.part",
            params,
        ):
            parts.setdefault(row["delivery_id"], []).append(row_to_part(row))
        return [
            PublishedDelivery(row_to_delivery(row), tuple(parts.get(row["id"], []))) for row in rows
        ]
