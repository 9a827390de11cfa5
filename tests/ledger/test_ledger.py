"""The ledger on its own: migrations, checked transitions, the read API, owners, the event log."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from klapper.ledger import EventLog, Ledger, PartRecord, State, event_log_path, read_events
from klapper.ledger.owner import current_owner, owner_alive
from klapper.ledger.schema import MIGRATIONS, migrate
from klapper.ledger.store import CLAIM_SQL

NOW = datetime(2026, 6, 1, 7, 0, tzinfo=UTC)


def planned(ledger: Ledger, post: str = "p", account: str = "a", due: datetime = NOW):
    return ledger.insert_planned(
        post_id=post,
        occurrence="",
        account=account,
        platform="outbox",
        due=due,
        content_hash="h",
        slotted=False,
        source=f"{post}.yaml",
        first_line="x",
        now=NOW,
    )


def test_new_ledger_is_wal_and_at_the_latest_version(tmp_path: Path) -> None:
    ledger = Ledger.open(state=tmp_path)
    assert ledger.version == len(MIGRATIONS)
    ledger.close()
    conn = sqlite3.connect(tmp_path / "ledger.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute(
        "SELECT version FROM schema_versions WHERE component = 'ledger'"
    ).fetchone()[0] == len(MIGRATIONS)


def test_a_later_migration_is_applied_once_and_a_newer_ledger_refused(tmp_path: Path) -> None:
    Ledger.open(state=tmp_path).close()
    conn = sqlite3.connect(tmp_path / "ledger.sqlite3", isolation_level=None)
    later = [*MIGRATIONS, ("CREATE TABLE later_feature (delivery_id TEXT, value INTEGER)",)]
    assert migrate(conn, migrations=later) == len(MIGRATIONS) + 1
    assert migrate(conn, migrations=later) == len(MIGRATIONS) + 1  # nothing to do twice
    conn.execute("INSERT INTO later_feature VALUES ('d1', 3)")
    with pytest.raises(RuntimeError, match="upgrade klapper"):
        migrate(conn, migrations=MIGRATIONS)


def test_transitions_outside_the_table_are_refused(tmp_path: Path, ledger_url: str | None) -> None:
    ledger = Ledger.open(state=tmp_path, url=ledger_url)
    row = planned(ledger)
    with pytest.raises(ValueError, match="cannot go from planned to published"):
        ledger.update(row.id, now=NOW, expect=[State.PLANNED], state=State.PUBLISHED)
    # A conditional update that lost the race changes nothing and says so.
    assert ledger.update(row.id, now=NOW, expect=[State.FAILED], state=State.SKIPPED) is None
    assert ledger.get(row.id).state is State.PLANNED
    ledger.close()


def test_ids_are_stable_and_unique_after_a_rename(tmp_path: Path) -> None:
    ledger = Ledger.open(state=tmp_path)
    first = planned(ledger, post="a.yaml")
    assert (
        first.id
        == Ledger.open(state=tmp_path / "other")
        .insert_planned(
            post_id="a.yaml",
            occurrence="",
            account="a",
            platform="outbox",
            due=NOW,
            content_hash="h",
            slotted=False,
            source="",
            first_line="",
            now=NOW,
        )
        .id
    )
    ledger.update(first.id, now=NOW, expect=[State.PLANNED], post_id="b.yaml")
    again = planned(ledger, post="a.yaml")  # a new post under the old name
    assert again.id != first.id


def test_published_deliveries_with_their_parts(tmp_path: Path, ledger_url: str | None) -> None:
    ledger = Ledger.open(state=tmp_path, url=ledger_url)
    row = planned(ledger)
    planned(ledger, post="q")
    ledger.claim(row.id, token="t", owner="o", now=NOW)
    for part in (0, 1):
        ledger.record_part(
            PartRecord(
                delivery_id=row.id,
                part=part,
                remote_id=f"r{part}",
                url=f"u{part}",
                published_at=NOW,
                ref={"cid": f"c{part}"},
            ),
            token="t",
            now=NOW,
        )
    ledger.update(
        row.id,
        now=NOW,
        expect=[State.CLAIMED],
        state=State.PUBLISHED,
        token="t",
        remote_id="r0",
        url="u0",
        published_at=NOW,
    )
    (found,) = ledger.published_deliveries(since=NOW - timedelta(days=1))
    assert found.delivery.id == row.id and found.remote_ids == ("r0", "r1")
    assert found.parts[1].ref == {"cid": "c1"}
    assert ledger.published_deliveries(account="b") == []
    ledger.close()


def test_claim_sql_has_one_form_for_sqlite_and_postgresql() -> None:
    postgres = CLAIM_SQL.format(lock="FOR UPDATE SKIP LOCKED")
    assert "FOR UPDATE SKIP LOCKED" in postgres and "RETURNING" in postgres
    assert CLAIM_SQL.format(lock="").count("UPDATE deliveries") == 1


def test_owner_liveness(tmp_path: Path) -> None:
    assert owner_alive(current_owner(), claimed_at=NOW, now=NOW, stale_after=timedelta(0))
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = f"{socket.gethostname()}:{child.pid}:1"
    assert not owner_alive(dead, claimed_at=NOW, now=NOW, stale_after=timedelta(hours=1))
    # Another machine's claim: alive until it is older than stale_after.
    assert owner_alive(
        "elsewhere:1:1",
        claimed_at=NOW,
        now=NOW + timedelta(minutes=5),
        stale_after=timedelta(minutes=10),
    )
    assert not owner_alive(
        "elsewhere:1:1",
        claimed_at=NOW,
        now=NOW + timedelta(minutes=11),
        stale_after=timedelta(minutes=10),
    )
    reused = f"{socket.gethostname()}:{os.getpid()}:0"  # our pid, another process start
    assert not owner_alive(reused, claimed_at=NOW, now=NOW, stale_after=timedelta(hours=1))


def test_event_log_lines_and_path(tmp_path: Path) -> None:
    assert event_log_path(state=tmp_path, configured=None) == tmp_path / "events.jsonl"
    assert event_log_path(state=tmp_path, configured="logs/k.jsonl") == tmp_path / "logs/k.jsonl"
    assert event_log_path(state=tmp_path, configured="/var/log/k.jsonl") == Path("/var/log/k.jsonl")
    ledger = Ledger.open(state=tmp_path)
    row = planned(ledger)
    log = EventLog(tmp_path / "logs" / "k.jsonl")
    seen = []
    log.listeners.append(seen.append)
    log.emit("published", delivery=row, now=NOW, url="u", nothing=None)
    log.emit("paused", now=NOW, account="a", reason="token revoked")
    with open(log.path, "a") as handle:
        handle.write('{"torn": ')  # a crash mid-line
    events = read_events(log.path)
    assert events[0] == {
        "ts": NOW.isoformat(),
        "event": "published",
        "delivery": row.id,
        "post": "p",
        "account": "a",
        "platform": "outbox",
        "url": "u",
    }
    assert events[1]["event"] == "paused" and len(events) == 2 and len(seen) == 2
