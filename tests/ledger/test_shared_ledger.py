"""The ledger on a shared PostgreSQL (``--ledger URL``): opening, migrations, races, events, locks.

Each test has an empty schema of its own (``pg_url`` in tests/conftest.py) in the
session's throwaway PostgreSQL 15; ``Ledger`` makes its tables there itself.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from klapper.engagement.schema import MIGRATIONS as ENGAGEMENT
from klapper.engagement.store import EngagementStore
from klapper.ledger import EventLog, Ledger, State
from klapper.ledger.faults import StateError
from klapper.ledger.url import redact_url
from tests.fakes.postgres import free_port
from tests.ledger.test_ledger import planned

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_urls_are_shown_without_their_password() -> None:
    assert redact_url("postgresql://klapper:s3cret@db.example:5432/klapper") == (
        "postgresql://klapper:***@db.example:5432/klapper"
    )
    assert redact_url("postgresql://db/klapper?password=s3cret&sslmode=require") == (
        "postgresql://db/klapper?password=***&sslmode=require"
    )
    assert redact_url("postgresql://klapper@db/klapper") == "postgresql://klapper@db/klapper"


def test_a_server_that_cannot_be_used_is_one_line_without_the_password(
    tmp_path: Path, postgres_cluster: Any
) -> None:
    pytest.importorskip("psycopg_pool", reason="psycopg_pool is missing: pip install -e '.[test]'")
    closed = f"postgresql://klapper:s3cret@127.0.0.1:{free_port()}/klapper"
    with pytest.raises(StateError) as refused:
        Ledger.open(state=tmp_path, url=closed)
    message = str(refused.value)
    assert "s3cret" not in message and "\n" not in message
    assert message.startswith("postgresql://klapper:***@127.0.0.1:")
    assert "PGPASSWORD or ~/.pgpass" in message
    missing = f"postgresql://klapper:s3cret@127.0.0.1:{postgres_cluster.port}/nosuchdb"
    with pytest.raises(StateError, match='database "nosuchdb" does not exist') as gone:
        Ledger.open(state=tmp_path, url=missing)
    assert "s3cret" not in str(gone.value)


def test_a_literal_percent_and_colon_reach_postgresql_as_written(
    tmp_path: Path, pg_url: str
) -> None:
    ledger = Ledger.open(state=tmp_path, url=pg_url)
    row = ledger.read("SELECT 'evergreen:%' AS pattern, 'a' LIKE '%' AS matched -- 100% :x ?")[0]
    assert row["pattern"] == "evergreen:%" and row["matched"] is True
    ledger.close()


def test_a_url_that_is_not_postgresql_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="not a PostgreSQL URL"):
        Ledger.open(state=tmp_path, url="mysql://db/klapper")


def test_daemons_starting_together_migrate_once(tmp_path: Path, pg_url: str) -> None:
    start = threading.Barrier(4)

    def open_one(_: int) -> tuple[int, int]:
        start.wait()
        ledger = Ledger.open(state=tmp_path, url=pg_url)
        try:
            return ledger.version, EngagementStore(ledger).ledger.version
        finally:
            ledger.close()

    with ThreadPoolExecutor(4) as pool:
        versions = set(pool.map(open_one, range(4)))
    assert len(versions) == 1
    ledger = Ledger.open(state=tmp_path, url=pg_url)
    rows = ledger.read("SELECT component, version FROM schema_versions ORDER BY component")
    assert [(row["component"], row[1]) for row in rows] == [
        ("engagement", len(ENGAGEMENT)),
        ("events", 1),
        ("ledger", 2),
    ]
    ledger.close()


def test_planning_the_same_key_at_once_gives_one_row(tmp_path: Path, pg_url: str) -> None:
    ledgers = [Ledger.open(state=tmp_path, url=pg_url) for _ in range(4)]
    start = threading.Barrier(len(ledgers))

    def plan_one(ledger: Ledger) -> str:
        start.wait()
        return str(planned(ledger).id)

    with ThreadPoolExecutor(len(ledgers)) as pool:
        ids = set(pool.map(plan_one, ledgers))
    assert len(ids) == 1 and len(ledgers[0].deliveries()) == 1
    for ledger in ledgers:
        ledger.close()


def test_every_processs_events_are_kept_in_the_ledger(tmp_path: Path, pg_url: str) -> None:
    first, second = (Ledger.open(state=tmp_path / name, url=pg_url) for name in ("a", "b"))
    row = planned(first)
    for seconds, (ledger, folder) in enumerate(((first, "a"), (second, "b"))):
        events = EventLog(tmp_path / folder / "events.jsonl")
        ledger.attach(events)
        ledger.attach(events)  # once only
        at = NOW + timedelta(seconds=seconds)
        events.emit("published", delivery=row, now=at, url=f"https://{folder}")
        events.close()
    kept = second.events(since=NOW - timedelta(minutes=1))
    assert [e["url"] for e in kept] == ["https://a", "https://b"]
    assert all(e["delivery"] == row.id and e["owner"] for e in kept)
    first.close()
    second.close()


def test_a_sqlite_ledger_keeps_no_events_table(tmp_path: Path) -> None:
    ledger = Ledger.open(state=tmp_path)
    events = EventLog(tmp_path / "events.jsonl")
    ledger.attach(events)
    assert events.listeners == []
    assert not ledger.read("SELECT name FROM sqlite_master WHERE name = 'events'")
    events.close()
    ledger.close()


def test_one_process_at_a_time_holds_a_named_lock(tmp_path: Path, pg_url: str) -> None:
    first, second = (Ledger.open(state=tmp_path, url=pg_url) for _ in range(2))
    with first.try_lock("engagement:shop") as mine:
        assert mine
        with second.try_lock("engagement:shop") as theirs:
            assert not theirs
        with second.try_lock("engagement:other") as other:
            assert other
    with second.try_lock("engagement:shop") as later:
        assert later
    first.close()
    second.close()


def test_a_lease_is_renewed_by_its_holder_only(tmp_path: Path, pg_url: str) -> None:
    ledger = Ledger.open(state=tmp_path, url=pg_url)
    row = planned(ledger)
    assert ledger.claim(row.id, token="t1", owner="host-a:1:1", now=NOW) is not None
    assert ledger.renew(row.id, token="t1", now=NOW + timedelta(seconds=10))
    assert not ledger.renew(row.id, token="someone-else", now=NOW + timedelta(seconds=20))
    assert ledger.get(row.id).claimed_at == NOW + timedelta(seconds=10)
    # Run out (not renewed for 30 s): released to UNKNOWN, looked for before it is sent again.
    later = NOW + timedelta(seconds=41)
    released = ledger.release_dead_claims(
        now=later, alive=lambda d: later - d.claimed_at < timedelta(seconds=30)
    )
    assert [d.state for d in released] == [State.UNKNOWN]
    assert not ledger.renew(row.id, token="t1", now=later)
    ledger.close()
