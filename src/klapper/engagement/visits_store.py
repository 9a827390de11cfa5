"""The visits side's SQL: site figures per campaign, source and day, and the stages read.

Kept in the ledger's file next to readings (engagement's migration 2). A day's figures are
replaced by a later reading of the same day (they grow until the day is over); nothing is
ever deleted. Same SQL style as ``EngagementStore``: portable to PostgreSQL, times as TEXT in
the ledger's UTC form.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from klapper.engagement.schema import COMPONENT, MIGRATIONS
from klapper.engagement.sites import SiteRow
from klapper.ledger import Ledger
from klapper.ledger.states import utc_text

#: the statements, written once for SQLite and PostgreSQL (the ledger's placeholders)
STAGE_INSERT = (
    "INSERT INTO visit_stages (delivery_id, stage, taken_at) VALUES (?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)
VISITS_OLD = (
    "SELECT visits, visitors, goals FROM visits"
    " WHERE tool = ? AND campaign = ? AND source = ? AND day = ?"
)
VISITS_UPSERT = (
    "INSERT INTO visits (tool, campaign, source, day, visits, visitors, goals, read_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (tool, campaign, source, day) DO UPDATE SET visits = excluded.visits,"
    " visitors = excluded.visitors, goals = excluded.goals, read_at = excluded.read_at"
)
STAGES_TAKEN = "SELECT delivery_id, MAX(stage) AS stage FROM visit_stages GROUP BY delivery_id"


@dataclass(frozen=True)
class VisitRow:
    """A stored row: the site's figures and which tool gave them, and when."""

    tool: str
    row: SiteRow
    read_at: datetime


class VisitsStore:
    """Visits reads and writes on an open ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        ledger.ensure_schema(component=COMPONENT, migrations=MIGRATIONS)

    def stages_taken(self) -> dict[tuple[str, int], int]:
        """(delivery, 0) -> the latest stage whose visits were read (the schedule's key)."""
        rows = self.ledger.read(STAGES_TAKEN)
        return {(row["delivery_id"], 0): row["stage"] for row in rows}

    def add_stages(self, taken: Iterable[tuple[str, int]], *, now: datetime) -> None:
        with self.ledger.transaction() as conn:
            for delivery_id, stage in taken:
                conn.execute(STAGE_INSERT, (delivery_id, stage, utc_text(now)))

    def put(self, tool: str, rows: Sequence[SiteRow], *, now: datetime) -> list[SiteRow]:
        """Store ``rows``; returns those that are new or whose figures changed."""
        changed = []
        with self.ledger.transaction() as conn:
            for r in rows:
                key = (tool, r.campaign, r.source, r.day.isoformat())
                old = conn.execute(VISITS_OLD, key).fetchone()
                same = old is not None and (old["visits"], old["visitors"], old["goals"]) == (
                    r.visits,
                    r.visitors,
                    r.goals,
                )
                if same:
                    continue
                conn.execute(VISITS_UPSERT, (*key, r.visits, r.visitors, r.goals, utc_text(now)))
                changed.append(r)
        return changed

    def rows(self, *, since: date | None = None) -> list[VisitRow]:
        """Stored rows (of days from ``since`` on), oldest day first."""
        where, params = ("WHERE day >= ?", [since.isoformat()]) if since else ("", [])
        found = self.ledger.read(
            f"SELECT * FROM visits {where} ORDER BY day, tool, campaign, source", params
        )
        return [
            VisitRow(
                tool=row["tool"],
                row=SiteRow(
                    campaign=row["campaign"],
                    source=row["source"],
                    day=date.fromisoformat(row["day"]),
                    visits=row["visits"],
                    visitors=row["visitors"],
                    goals=row["goals"],
                ),
                read_at=datetime.fromisoformat(row["read_at"]),
            )
            for row in found
        ]
