"""The ledger's own SQL on a real PostgreSQL: schema, racing claims, SKIP LOCKED, transitions.

Every statement comes from klapper.ledger (``MIGRATIONS``, ``claim_sql``, ``transition_sql``,
``RECORD_PART_*``), put into PostgreSQL's parameter style by ``dialect.placeholders`` only.
Each claimer is its own connection, so the server sees real concurrent sessions.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from klapper.engagement.store import EngagementStore
from klapper.ledger import Ledger, State
from klapper.ledger.dialect import Dialect, placeholders
from klapper.ledger.queries import row_to_delivery
from klapper.ledger.states import Delivery, utc_text
from klapper.ledger.store import (
    CLAIM_BATCH_SQL,
    RECORD_PART_HOLD,
    RECORD_PART_INSERT,
    claim_sql,
    transition_sql,
)
from tests.scheduler.postgres import Schema, create_schema, psycopg

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
PG: Dialect = "postgresql"


def add_planned(conn: Any, count: int, *, dialect: Dialect = PG) -> list[str]:
    """``count`` planned deliveries of account 'shop', all due at NOW."""
    ids = [f"d{index:05d}" for index in range(count)]
    sql = placeholders(
        "INSERT INTO deliveries (id, post_id, account, platform, due, content_hash, state,"
        " created_at, updated_at) VALUES (?, ?, 'shop', 'outbox', ?, 'h', 'planned', ?, ?)",
        dialect=dialect,
    )
    conn.cursor().executemany(
        sql, [(i, f"post-{i}", utc_text(NOW), utc_text(NOW), utc_text(NOW)) for i in ids]
    )
    conn.commit()
    return ids


def claim(
    conn: Any, delivery: str, *, token: str, dialect: Dialect = PG, now: datetime = NOW
) -> Delivery | None:
    """One claim in its own transaction, as ``Ledger.claim`` does it."""
    row = conn.execute(
        claim_sql(dialect=dialect),
        {"id": delivery, "token": token, "owner": f"host:{token}", "now": utc_text(now)},
    ).fetchone()
    conn.commit()
    return row_to_delivery(row) if row else None


def claim_batch(
    conn: Any, *, token: str, limit: int, sql: str | None = None, dialect: Dialect = PG
) -> list[str]:
    """The oldest ``limit`` claimable deliveries; the transaction is left open for the caller."""
    rows = conn.execute(
        sql or claim_sql(dialect=dialect, batch=True),
        {"token": token, "owner": f"host:{token}", "now": utc_text(NOW), "limit": limit},
    ).fetchall()
    return sorted(row["id"] for row in rows)


def transition(
    conn: Any,
    delivery: str,
    *,
    expect: list[State],
    token: str | None,
    dialect: Dialect = PG,
    now: datetime = NOW,
    **columns: Any,
) -> Delivery | None:
    """``Ledger.update``'s statement, uncommitted (the caller decides when)."""
    values = {
        name: (
            value.value
            if isinstance(value, State)
            else utc_text(value)
            if isinstance(value, datetime)
            else value
        )
        for name, value in columns.items()
    }
    params = {**values, "id": delivery, "now": utc_text(now)}
    if token is not None:
        params["token"] = token
    sql = transition_sql(columns=columns, expect=expect, token=token is not None, dialect=dialect)
    row = conn.execute(sql, params).fetchone()
    return row_to_delivery(row) if row else None


def in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = work()
        except Exception as exc:  # noqa: BLE001 - handed to the test to assert on
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def wait_until_blocked(conn: Any, *, pid: int, timeout: float = 5.0) -> None:
    """Until backend ``pid`` waits for a row lock (no guessing with sleeps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
        ).fetchone()
        if row and row["wait_event_type"] == "Lock":
            return
        time.sleep(0.01)
    raise AssertionError(f"backend {pid} never waited for a lock")


# --- (1) the schema ----------------------------------------------------------------------------


def test_the_ledgers_ddl_runs_unchanged_and_gives_the_same_columns(
    pg: Schema, tmp_path: Path
) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    EngagementStore(ledger)  # engagement makes its own tables
    ledger.close()
    sqlite = sqlite3.connect(tmp_path / "ledger.sqlite3")
    # Every table of a ledger in use, so a component left out of COMPONENTS fails here.
    tables = {
        row[0] for row in sqlite.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    assert {"deliveries", "parts", "readings", "inbox"} <= tables
    with pg.connect() as conn:
        on_pg_tables = {
            row["table_name"]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (pg.name,),
            )
        }
        # the version tables are migrate()'s own bookkeeping, not any migration's
        assert on_pg_tables == tables - {"schema_version", "schema_versions"}
        for table in sorted(on_pg_tables):
            on_pg = [
                row["column_name"]
                for row in conn.execute(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                    (pg.name, table),
                )
            ]
            on_sqlite = [row[1] for row in sqlite.execute(f"PRAGMA table_info({table})")]
            assert on_pg == on_sqlite, table
        indexes = {
            row["indexname"]
            for row in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = %s", (pg.name,)
            )
        }
    sqlite.close()
    assert {"deliveries_key", "deliveries_state_due"} <= indexes


# --- (2) racing claimers -----------------------------------------------------------------------


def test_racing_claimers_claim_every_delivery_exactly_once(pg: Schema) -> None:
    workers, count = 8, 300
    with pg.connect() as conn:
        ids = add_planned(conn, count)
    start = threading.Barrier(workers)

    def worker(number: int) -> list[str]:
        won = []
        with pg.connect() as conn:
            start.wait()
            # Everyone walks the same list in the same order: the most collisions per row.
            for delivery in ids:
                if claim(conn, delivery, token=f"w{number}") is not None:
                    won.append(delivery)
        return won

    began = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(worker, range(workers)))
    elapsed = time.monotonic() - began
    wins = Counter(delivery for won in results for delivery in won)
    assert set(wins) == set(ids), "a delivery was lost"
    assert max(wins.values()) == 1, "a delivery was claimed twice"
    with pg.connect() as conn:
        rows = {
            row["id"]: row for row in conn.execute("SELECT id, state, claim_token FROM deliveries")
        }
    for number, won in enumerate(results):
        assert all(
            rows[d]["state"] == "claimed" and rows[d]["claim_token"] == f"w{number}" for d in won
        )
    assert sum(1 for won in results if won) > 1, "one worker took everything: no race happened"
    print(
        f"\n{workers} claimers x {count} deliveries: {elapsed:.2f} s,"
        f" wins per worker {sorted(len(w) for w in results)}"
    )


def test_racing_batch_claimers_lose_nothing_and_share_nothing(pg: Schema) -> None:
    workers, count = 6, 240
    with pg.connect() as conn:
        ids = add_planned(conn, count)
    start = threading.Barrier(workers)

    def worker(number: int) -> list[str]:
        won: list[str] = []
        with pg.connect() as conn:
            start.wait()
            while batch := claim_batch(conn, token=f"w{number}", limit=7):
                conn.commit()
                won += batch
        return won

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(worker, range(workers)))
    wins = Counter(delivery for won in results for delivery in won)
    assert set(wins) == set(ids) and max(wins.values()) == 1


def test_without_its_row_lock_the_claim_wins_twice_on_postgresql(pg: Schema) -> None:
    """Why ``LOCKS['postgresql']`` is required: READ COMMITTED re-checks only the target row."""
    with pg.connect() as first, pg.connect() as second, pg.connect(autocommit=True) as watch:
        (delivery,) = add_planned(first, 1)
        unlocked = placeholders(claim_sql(dialect="sqlite"), dialect=PG)  # the SQL with no lock
        params = {"id": delivery, "owner": "host", "now": utc_text(NOW)}
        assert first.execute(unlocked, {**params, "token": "a"}).fetchone() is not None
        thread, result = in_thread(
            lambda: second.execute(unlocked, {**params, "token": "b"}).fetchone()
        )
        wait_until_blocked(watch, pid=second.info.backend_pid)
        first.commit()
        thread.join(5)
        second.rollback()
    assert "error" not in result, result
    assert result["value"] is not None, "PostgreSQL now re-checks the subquery: update dialect.py"


# --- (3) SKIP LOCKED ---------------------------------------------------------------------------


def test_skip_locked_gives_workers_disjoint_batches_without_waiting(pg: Schema) -> None:
    with pg.connect() as setup:
        ids = add_planned(setup, 30)
    conns = [pg.connect() for _ in range(3)]
    try:
        for conn in conns:  # a worker that did wait would fail instead of hanging the test
            conn.execute("SET lock_timeout = '3s'")
            conn.commit()
        batches, waits = [], []
        for number, conn in enumerate(conns):  # each holds its batch's locks until the end
            began = time.monotonic()
            batches.append(claim_batch(conn, token=f"w{number}", limit=10))
            waits.append(time.monotonic() - began)
        for conn in conns:
            conn.commit()
    finally:
        for conn in conns:
            conn.close()
    assert batches == [ids[0:10], ids[10:20], ids[20:30]], "oldest first, and disjoint"
    assert max(waits) < 1.0, f"a worker waited {max(waits):.2f} s for another's locks"


def test_plain_for_update_would_make_the_second_worker_wait(pg: Schema) -> None:
    with pg.connect() as first, pg.connect() as second:
        add_planned(first, 10)
        assert len(claim_batch(first, token="a", limit=5)) == 5  # held, not committed
        second.execute("SET lock_timeout = '200ms'")
        waiting = placeholders(CLAIM_BATCH_SQL.format(lock="FOR UPDATE"), dialect=PG)
        with pytest.raises(psycopg.errors.LockNotAvailable):
            claim_batch(second, token="b", limit=5, sql=waiting)
        second.rollback()
        assert len(claim_batch(second, token="b", limit=5)) == 5  # SKIP LOCKED: the other five
        first.commit()
        second.commit()


def test_a_claim_in_progress_is_skipped_and_a_rolled_back_one_is_free_again(pg: Schema) -> None:
    with pg.connect() as first, pg.connect() as second:
        (delivery,) = add_planned(first, 1)
        params = {"id": delivery, "owner": "host", "now": utc_text(NOW)}
        assert first.execute(claim_sql(dialect=PG), {**params, "token": "a"}).fetchone()
        began = time.monotonic()
        assert claim(second, delivery, token="b") is None
        assert time.monotonic() - began < 1.0
        first.rollback()  # the claimer died before its commit: nothing was claimed
        claimed = claim(second, delivery, token="b")
    assert claimed is not None and claimed.claim_token == "b"


# --- (4) releases and the publisher's transitions ----------------------------------------------


def release(conn: Any, row: Delivery, *, dialect: Dialect = PG) -> Delivery | None:
    """What ``Ledger.release_dead_claims`` writes for a claim whose process died."""
    return transition(
        conn,
        row.id,
        expect=[State.CLAIMED],
        token=row.claim_token,
        dialect=dialect,
        state=State.UNKNOWN,
        retry_at=NOW,
        claim_token=None,
        in_flight=0,
        reason="its process stopped",
    )


def publish(conn: Any, delivery: str, *, token: str, dialect: Dialect = PG) -> Delivery | None:
    """The publisher's last write: PUBLISHED, only while the claim is still its own."""
    return transition(
        conn,
        delivery,
        expect=[State.CLAIMED],
        token=token,
        dialect=dialect,
        state=State.PUBLISHED,
        remote_id="r0",
        url="https://example.test/r0",
        published_at=NOW,
        in_flight=None,
        claim_token=None,
        retry_at=None,
    )


@pytest.mark.parametrize("winner", ["release", "publish"])
def test_a_stale_release_and_a_late_outcome_race_and_exactly_one_wins(
    pg: Schema, winner: str
) -> None:
    with pg.connect() as owner, pg.connect() as reaper, pg.connect(autocommit=True) as watch:
        (delivery,) = add_planned(owner, 1)
        row = claim(owner, delivery, token="t1")
        assert row is not None
        first, second = (reaper, owner) if winner == "release" else (owner, reaper)
        moves = {
            reaper: lambda: release(reaper, row),
            owner: lambda: publish(owner, delivery, token="t1"),
        }
        assert moves[first]() is not None  # uncommitted: holds the row
        thread, result = in_thread(moves[second])
        wait_until_blocked(watch, pid=second.info.backend_pid)
        first.commit()
        thread.join(5)
        second.commit()
        final = row_to_delivery(owner.execute("SELECT * FROM deliveries").fetchone())
    assert result == {"value": None}, "the second writer must find the claim gone"
    assert final.state is (State.UNKNOWN if winner == "release" else State.PUBLISHED)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, Dialect]]:
    """The same statements on both: a plain sqlite3 connection, or one to PostgreSQL."""
    if request.param == "sqlite":
        conn = sqlite3.connect(tmp_path / "ledger.sqlite3")
        conn.row_factory = sqlite3.Row
        create_schema(conn)
        yield conn, "sqlite"
        conn.close()
    else:
        schema = request.getfixturevalue("pg")
        with schema.connect() as conn:
            yield conn, PG


def test_the_publishers_transitions_behave_alike_on_both(db: tuple[Any, Dialect]) -> None:
    conn, dialect = db
    one, two, three = add_planned(conn, 3, dialect=dialect)
    later = NOW + timedelta(minutes=5)

    # A thread of two parts: each part recorded while the claim is held, then PUBLISHED.
    assert claim(conn, one, token="t1", dialect=dialect) is not None
    for part in (0, 1):
        held = conn.execute(
            placeholders(RECORD_PART_HOLD, dialect=dialect),
            (utc_text(NOW), utc_text(NOW), one, "t1"),
        ).fetchone()
        assert held is not None
        conn.execute(
            placeholders(RECORD_PART_INSERT, dialect=dialect),
            (one, part, f"r{part}", None, utc_text(NOW), "{}"),
        )
        conn.commit()
    done = publish(conn, one, token="t1", dialect=dialect)
    conn.commit()
    assert done is not None and done.state is State.PUBLISHED and done.remote_id == "r0"
    assert claim(conn, one, token="t2", dialect=dialect) is None  # published: never again

    # A transient failure: FAILED with a retry time; claimable again only from then on.
    assert claim(conn, two, token="t3", dialect=dialect) is not None
    failed = transition(
        conn,
        two,
        expect=[State.CLAIMED],
        token="t3",
        dialect=dialect,
        state=State.FAILED,
        retry_at=later,
        attempts=1,
        claim_token=None,
        reason="HTTP 503",
    )
    conn.commit()
    assert failed is not None and failed.retry_at == later
    assert claim(conn, two, token="t4", dialect=dialect) is None
    assert claim(conn, two, token="t4", dialect=dialect, now=later) is not None

    # A stale claim released to UNKNOWN: the late owner can record nothing; a new claim can.
    stale = claim(conn, three, token="t5", dialect=dialect)
    assert stale is not None and release(conn, stale, dialect=dialect) is not None
    conn.commit()
    assert (
        conn.execute(
            placeholders(RECORD_PART_HOLD, dialect=dialect),
            (utc_text(NOW), utc_text(NOW), three, "t5"),
        ).fetchone()
        is None
    )
    assert publish(conn, three, token="t5", dialect=dialect) is None
    conn.commit()
    assert claim(conn, three, token="t6", dialect=dialect) is not None

    # The account's credential expired: back to PLANNED, and nothing is claimable while paused.
    back = transition(
        conn,
        three,
        expect=[State.CLAIMED],
        token="t6",
        dialect=dialect,
        state=State.PLANNED,
        claim_token=None,
    )
    conn.execute(
        placeholders(
            "INSERT INTO accounts (name, paused_at, updated_at) VALUES (?, ?, ?)", dialect=dialect
        ),
        ("shop", utc_text(NOW), utc_text(NOW)),
    )
    conn.commit()
    assert back is not None and back.state is State.PLANNED
    assert claim(conn, three, token="t7", dialect=dialect) is None
    # A final failure is never claimed by itself.
    final = transition(
        conn,
        two,
        expect=[State.CLAIMED],
        token=None,
        dialect=dialect,
        state=State.FAILED,
        retry_at=None,
        claim_token=None,
        reason="refused",
    )
    conn.execute(placeholders("DELETE FROM accounts WHERE name = ?", dialect=dialect), ("shop",))
    conn.commit()
    assert final is not None and final.final
    assert claim(conn, two, token="t8", dialect=dialect, now=later) is None
    assert claim(conn, three, token="t7", dialect=dialect) is not None


def test_a_batch_claim_takes_the_oldest_claimable_only_on_both(db: tuple[Any, Dialect]) -> None:
    conn, dialect = db
    ids = add_planned(conn, 6, dialect=dialect)
    conn.execute(
        placeholders("UPDATE deliveries SET due = ? WHERE id = ?", dialect=dialect),
        (utc_text(NOW + timedelta(hours=1)), ids[0]),
    )  # not due yet
    conn.execute(
        placeholders("UPDATE deliveries SET due = ? WHERE id = ?", dialect=dialect),
        (utc_text(NOW - timedelta(hours=1)), ids[5]),
    )  # the oldest
    conn.commit()
    assert claim(conn, ids[1], token="t0", dialect=dialect) is not None  # taken already
    first = claim_batch(conn, token="t1", limit=3, dialect=dialect)
    conn.commit()
    rest = claim_batch(conn, token="t2", limit=3, dialect=dialect)
    conn.commit()
    assert first == sorted([ids[5], ids[2], ids[3]]) and rest == [ids[4]]
