"""The visits store's statements on a real PostgreSQL, as ``placeholders`` gives them to it:
a day read again replaces its figures, a stage is kept once, the latest stage per delivery."""

from __future__ import annotations

from typing import Any

from klapper.engagement.visits_store import (
    STAGE_INSERT,
    STAGES_TAKEN,
    VISITS_OLD,
    VISITS_UPSERT,
)
from klapper.ledger.dialect import placeholders
from tests.ledger.test_postgres import add_planned


def _pg(sql: str) -> str:
    return placeholders(sql, dialect="postgresql")


def test_visits_sql_runs_on_postgresql(pg: Any) -> None:
    key = ("matomo", "advent", "mastodon", "2026-12-01")
    with pg.connect() as conn:
        (delivery,) = add_planned(conn, 1)
        conn.execute(_pg(VISITS_UPSERT), (*key, 2, 2, None, "2026-12-01T09:00:00Z"))
        conn.execute(_pg(VISITS_UPSERT), (*key, 5, 4, 1, "2026-12-01T15:00:00Z"))
        row = conn.execute(_pg(VISITS_OLD), key).fetchone()
        assert (row["visits"], row["visitors"], row["goals"]) == (5, 4, 1)
        for stage in (3600, 21600, 3600):
            conn.execute(_pg(STAGE_INSERT), (delivery, stage, "2026-12-01T15:00:00Z"))
        taken = conn.execute(_pg(STAGES_TAKEN)).fetchall()
        conn.commit()
    assert [(r["delivery_id"], r["stage"]) for r in taken] == [(delivery, 21600)]
