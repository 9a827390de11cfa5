"""Rebuild a lost ledger from the event log, so that nothing the log lists goes out again.

A ledger that was deleted, emptied or replaced does not trust its own emptiness: when it holds
no delivery and the event log holds some, the engine replays the log into it before its first
sync (``klapper ledger rebuild`` does the same by hand, and adds what a ledger lacks):

- published (and edited) deliveries come back on the platform with their parts' remote ids;
  they are never posted again, and their reactions are read as before;
- missed, cancelled and skipped ones come back as they were;
- anything else the log saw being tried (retry, unknown, failed, reconciled) may have parts out
  that the log never heard of: it comes back ``unknown`` (or failed for good, as it was), and
  the publisher looks on the platform for every part (``find``) before it posts anything;
- paused accounts stay paused.

Rebuilding also sets ``trust_from``: a delivery due before it that the log does not list (a
crash before its line was written, or a log that was lost as well) is planned as ``unknown``
(see ``Ledger.add_planned``). The log does not hold the posts' content: the next sync takes the
content of rows that lack it from the repository as it is (an edit made meanwhile goes unseen).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from klapper.ledger.states import EVERY_PART, ON_PLATFORM, State, utc_text
from klapper.ledger.store import Ledger

#: event -> the state it leaves a delivery in (None: the state it had)
_STATES: dict[str, State | None] = {
    "published": State.PUBLISHED,
    "edited": State.EDITED,
    "missed": State.MISSED,
    "cancelled": State.CANCELLED,
    "skipped": State.SKIPPED,
    "failed": State.FAILED,
    "retry": State.UNKNOWN,
    "unknown": State.UNKNOWN,
    "reconciled": State.UNKNOWN,
    "renamed": None,
}


@dataclass
class RebuildReport:
    """What a rebuild put back, by state, and what it left alone."""

    restored: dict[str, int] = field(default_factory=dict)
    kept: int = 0  # deliveries the ledger had already
    paused: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.restored.values())


def rebuild(
    ledger: Ledger, *, events: Iterable[Mapping[str, Any]], now: datetime, only_if_empty: bool
) -> RebuildReport | None:
    """Replay ``events`` into ``ledger`` (one transaction); None if ``only_if_empty`` and the
    ledger holds deliveries. Rows the ledger has (by id or key) are kept as they are."""
    with ledger.transaction() as conn:
        if only_if_empty and conn.execute("SELECT 1 FROM deliveries LIMIT 1").fetchone():
            return None
        conn.execute(
            "INSERT INTO ledger_meta (name, value) VALUES ('trust_from', ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (utc_text(now),),
        )
        rows, paused = _replay(events)
        report = RebuildReport()
        for row in sorted(rows.values(), key=lambda r: r["state"] not in ON_PLATFORM):
            if _insert(conn, row, now=now):
                name = row["state"].value
                report.restored[name] = report.restored.get(name, 0) + 1
            else:
                report.kept += 1
        for account, (since, reason) in sorted(paused.items()):
            done = conn.execute(
                "INSERT INTO accounts (name, paused_at, pause_reason, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING name",
                (account, since, reason, utc_text(now)),
            ).fetchone()
            if done:
                report.paused.append(account)
    return report


def _replay(
    events: Iterable[Mapping[str, Any]],
) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[str, str]]]:
    """The last word of the log on each delivery, and the accounts paused at its end."""
    rows: dict[str, dict[str, Any]] = {}
    paused: dict[str, tuple[str, str]] = {}
    for event in events:
        name, ts = event.get("event"), _utc(event.get("ts"))
        if ts is None:
            continue
        if name in ("paused", "resumed") and "delivery" not in event and event.get("account"):
            if name == "paused":
                paused[event["account"]] = (ts, str(event.get("reason") or "paused"))
            else:
                paused.pop(event["account"], None)
            continue
        if name not in _STATES or not all(event.get(k) for k in ("delivery", "post", "account")):
            continue
        row = rows.setdefault(
            event["delivery"],
            {
                "id": event["delivery"],
                "occurrence": event.get("occurrence") or "",
                "platform": event.get("platform") or "",
                "due": None,
                "parts": [],
                "state": State.UNKNOWN,
                "seen": ts,
            },
        )
        row.update(post_id=event["post"], account=event["account"])
        row["due"] = _utc(event.get("due")) or row["due"]
        state = _STATES[name]
        if state is None or (row["state"] in ON_PLATFORM and state not in ON_PLATFORM):
            continue  # a rename; or a late line about an attempt that was settled since
        row.update(state=state, reason=event.get("reason"), final=name == "failed")
        if name == "published" or (state in ON_PLATFORM and not row["parts"]):
            if not event.get("remote_id"):
                continue
            ids = event.get("remote_ids") or [event["remote_id"]]
            row.update(
                remote_id=event["remote_id"],
                url=event.get("url"),
                published_at=ts,
                parts=[
                    (part, str(rid), event.get("url") if part == 0 else None)
                    for part, rid in enumerate(ids)
                ],
            )
    return rows, paused


def _insert(conn: Any, row: dict[str, Any], *, now: datetime) -> bool:
    """One replayed delivery, unless the ledger has its id or its key; True if inserted."""
    state: State = row["state"]
    due = row["due"] or _occurrence(row["occurrence"]) or row["seen"]
    settled = state in ON_PLATFORM or state in (State.MISSED, State.CANCELLED, State.SKIPPED)
    if state is State.FAILED and not row.get("final"):
        state = State.UNKNOWN
    retry_at = None if settled or state is State.FAILED else utc_text(now)
    reason = row.get("reason") or (
        "rebuilt from the event log: klapper looks on the platform before posting it"
        if state is State.UNKNOWN
        else None
    )
    inserted = conn.execute(
        "INSERT INTO deliveries (id, post_id, occurrence, account, platform, due, content_hash,"
        " state, retry_at, in_flight, remote_id, url, published_at, reason, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING RETURNING id",
        (
            row["id"],
            row["post_id"],
            row["occurrence"],
            row["account"],
            row["platform"],
            due,
            state.value,
            retry_at,
            None if state in ON_PLATFORM else EVERY_PART,
            row.get("remote_id"),
            row.get("url"),
            row.get("published_at"),
            reason if state not in ON_PLATFORM else None,
            utc_text(now),
            utc_text(now),
        ),
    ).fetchone()
    if inserted is None:
        return False
    for part, remote_id, url in row["parts"]:
        conn.execute(
            "INSERT INTO parts (delivery_id, part, remote_id, url, published_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (row["id"], part, remote_id, url, row["published_at"]),
        )
    if state in ON_PLATFORM and not row["occurrence"]:
        # A post with no time of its own keeps the slot it went out in.
        conn.execute(
            "INSERT INTO slots (post_id, due) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (row["post_id"], due),
        )
    return True


def _utc(value: object) -> str | None:
    """An event's time as the ledger stores it (None when absent or unreadable)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return utc_text(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _occurrence(occurrence: str) -> str | None:
    return _utc(occurrence) if occurrence else None
