"""The engagement side's SQL: readings, the inbox, polling waits and marks, in the ledger's file.

The store makes its tables when constructed (``Ledger.ensure_schema`` with engagement's own
migrations). Writes go through ``Ledger.transaction`` (the ledger's lock and BEGIN IMMEDIATE),
reads through ``Ledger.read``, so publisher and poller share one connection and never block
each other for long. What it needs of the ledger's own tables (published deliveries, our
posts' remote ids) it asks the ledger's named questions. Times are TEXT in the ledger's fixed
UTC form (``utc_text``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from klapper.adapters.base import Interaction
from klapper.engagement.schema import COMPONENT, MIGRATIONS
from klapper.ledger import Ledger, PublishedDelivery
from klapper.ledger.backend import Row
from klapper.ledger.states import answered_item, from_utc_text, utc_text

#: the figures a reading holds, in the order of the table's columns
FIGURES: tuple[str, ...] = ("likes", "reposts", "replies", "quotes", "bookmarks", "views")


@dataclass(frozen=True)
class Reading:
    """Reactions to one part of one delivery at one moment; None = the platform does not say."""

    delivery_id: str
    part: int
    remote_id: str
    account: str
    platform: str
    stage: int  # seconds after publishing this reading was scheduled for
    taken_at: datetime
    found: bool
    likes: int | None = None
    reposts: int | None = None
    replies: int | None = None
    quotes: int | None = None
    bookmarks: int | None = None
    views: int | None = None

    def figures(self) -> dict[str, int | None]:
        return {name: getattr(self, name) for name in FIGURES}


@dataclass(frozen=True)
class InboxItem:
    """A reply or mention as kept in the ledger."""

    id: str
    account: str
    platform: str
    remote_id: str
    kind: str
    author: str
    text: str
    url: str | None
    created_at: datetime
    in_reply_to: str | None
    delivery_id: str | None
    by_self: bool
    attention: str | None
    seen_at: datetime
    answered_at: datetime | None
    answered_by: str | None
    done_at: datetime | None
    rating: int | None = None  # a review's stars, 1 to 5

    def as_interaction(self) -> Interaction:
        """The item as the adapters know it (what ``Adapter.reply_target`` takes)."""
        return Interaction(
            remote_id=self.remote_id,
            kind=self.kind,  # type: ignore[arg-type]
            author=self.author,
            text=self.text,
            url=self.url,
            created_at=self.created_at,
            in_reply_to=self.in_reply_to,
            by_self=self.by_self,
            rating=self.rating,
        )

    @property
    def open(self) -> bool:
        return not (self.by_self or self.answered_at or self.done_at)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account": self.account,
            "platform": self.platform,
            "kind": self.kind,
            "author": self.author,
            "text": self.text,
            "url": self.url,
            "created_at": utc_text(self.created_at),
            "in_reply_to": self.in_reply_to,
            "delivery": self.delivery_id,
            "attention": self.attention,
            "rating": self.rating,
            "answered_at": utc_text(self.answered_at) if self.answered_at else None,
            "answered_by": self.answered_by,
            "done_at": utc_text(self.done_at) if self.done_at else None,
        }


def posts_only(published: Iterable[PublishedDelivery]) -> list[PublishedDelivery]:
    """Published deliveries of posts, without the answers sent from the inbox (no readings,
    not in the report's posts: they are answers, counted as response times)."""
    return [p for p in published if answered_item(p.delivery.post_id) is None]


def inbox_id(account: str, remote_id: str) -> str:
    """A short stable id for an inbox item (``i`` + 10 hex digits)."""
    return "i" + hashlib.sha256(f"{account}|{remote_id}".encode()).hexdigest()[:10]


def _answered(conn: Any, item_id: str, *, at: datetime | None, by: str | None) -> None:
    """Mark ``item_id`` answered at ``at`` by remote id ``by`` unless it was already."""
    if at is None:
        return
    conn.execute(
        "UPDATE inbox SET answered_at = ?, answered_by = ? WHERE id = ? AND answered_at IS NULL",
        (utc_text(at), by, item_id),
    )


def _reading(row: Row) -> Reading:
    return Reading(
        delivery_id=row["delivery_id"],
        part=row["part"],
        remote_id=row["remote_id"],
        account=row["account"],
        platform=row["platform"],
        stage=row["stage"],
        taken_at=datetime.fromisoformat(row["taken_at"]),
        found=bool(row["found"]),
        **{name: row[name] for name in FIGURES},
    )


def _item(row: Row) -> InboxItem:
    return InboxItem(
        id=row["id"],
        account=row["account"],
        platform=row["platform"],
        remote_id=row["remote_id"],
        kind=row["kind"],
        author=row["author"],
        text=row["text"],
        url=row["url"],
        created_at=from_utc_text(row["created_at"]),  # type: ignore[arg-type]
        in_reply_to=row["in_reply_to"],
        delivery_id=row["delivery_id"],
        by_self=bool(row["by_self"]),
        attention=row["attention"],
        seen_at=from_utc_text(row["seen_at"]),  # type: ignore[arg-type]
        answered_at=from_utc_text(row["answered_at"]),
        answered_by=row["answered_by"],
        done_at=from_utc_text(row["done_at"]),
        rating=row["rating"],
    )


@dataclass(frozen=True)
class Answer:
    """An answer sent (or being sent) from the inbox: its delivery, the item, the text."""

    delivery_id: str
    item_id: str
    text: str
    saved: str | None


class EngagementStore:
    """Engagement reads and writes on an open ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        ledger.ensure_schema(component=COMPONENT, migrations=MIGRATIONS)

    def _rows(self, sql: str, params: Mapping[str, Any] | Iterable[Any] = ()) -> list[Row]:
        return self.ledger.read(sql, params)

    # --- readings --------------------------------------------------------------------------

    def stages_taken(self) -> dict[tuple[str, int], int]:
        """(delivery, part) -> the latest stage read so far."""
        rows = self._rows(
            "SELECT delivery_id, part, MAX(stage) AS stage FROM readings GROUP BY delivery_id, part"
        )
        return {(row["delivery_id"], row["part"]): row["stage"] for row in rows}

    def add_readings(self, readings: Sequence[Reading]) -> list[Reading]:
        """Store readings; returns those that were new (another process may have been first)."""
        added = []
        columns = ", ".join(FIGURES)
        marks = ", ".join("?" for _ in FIGURES)
        with self.ledger.transaction() as conn:
            for r in readings:
                row = conn.execute(
                    "INSERT INTO readings (delivery_id, part, remote_id, account, platform, stage,"
                    f" taken_at, found, {columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, {marks})"
                    " ON CONFLICT DO NOTHING RETURNING delivery_id",
                    (
                        r.delivery_id,
                        r.part,
                        r.remote_id,
                        r.account,
                        r.platform,
                        r.stage,
                        utc_text(r.taken_at),
                        int(r.found),
                        *r.figures().values(),
                    ),
                ).fetchone()
                if row is not None:
                    added.append(r)
        return added

    def readings(self, *, since: datetime | None = None) -> list[Reading]:
        """Readings of deliveries published since ``since`` (all when None), oldest first."""
        rows = [_reading(row) for row in self._rows("SELECT * FROM readings ORDER BY taken_at")]
        if since is None:
            return rows
        published = {
            p.delivery.id for p in posts_only(self.ledger.published_deliveries(since=since))
        }
        return [row for row in rows if row.delivery_id in published]

    # --- accounts: polling waits and the inbox cursor --------------------------------------

    def account_marks(self) -> dict[str, Row]:
        return {row["account"]: row for row in self._rows("SELECT * FROM engagement_accounts")}

    def wait_until(self, account: str) -> datetime | None:
        row = self.account_marks().get(account)
        return from_utc_text(row["wait_until"]) if row else None

    def set_account(self, account: str, *, now: datetime, **columns: Any) -> None:
        """Set ``inbox_checked_at``, ``wait_until`` or ``wait_reason`` (None clears)."""
        allowed = {"inbox_checked_at", "wait_until", "wait_reason"}
        if not columns or set(columns) - allowed:
            raise ValueError(f"engagement account columns are {', '.join(sorted(allowed))}")
        params = {k: utc_text(v) if isinstance(v, datetime) else v for k, v in columns.items()}
        params.update(account=account, now=utc_text(now))
        names = ", ".join(columns)
        marks = ", ".join(f":{c}" for c in columns)
        updates = ", ".join(f"{c} = :{c}" for c in columns)
        with self.ledger.transaction() as conn:
            conn.execute(
                f"INSERT INTO engagement_accounts (account, {names}, updated_at)"
                f" VALUES (:account, {marks}, :now)"
                f" ON CONFLICT (account) DO UPDATE SET {updates}, updated_at = :now",
                params,
            )

    # --- the inbox -------------------------------------------------------------------------

    def add_interactions(
        self,
        *,
        account: str,
        platform: str,
        found: Sequence[Interaction],
        owners: Mapping[str, str],
        attention: Mapping[str, str | None],
        now: datetime,
    ) -> list[InboxItem]:
        """Keep new replies and mentions; mark what our own answers answer. Returns new ones.

        ``owners`` maps our posts' remote ids to their delivery; a reply further down a
        conversation inherits the delivery of the item it answers. Our own posts' parts (a
        thread's follow-ups) are never kept, whatever the platform says of them.
        """
        new_ids = []
        ours = {remote for _, remote in self.ledger.remote_ids(account=account)}
        # Answers sent from the inbox settle their items, also after a rebuilt ledger.
        sent = [
            (answered, p.delivery)
            for p in self.ledger.published_deliveries(account=account)
            if (answered := answered_item(p.delivery.post_id)) is not None
        ]
        with self.ledger.transaction() as conn:
            for item in found:
                if item.remote_id in ours:
                    continue  # a follow-up part of our own thread: not someone's reply
                delivery = owners.get(item.in_reply_to or "")
                if delivery is None and item.in_reply_to:
                    parent = conn.execute(
                        "SELECT delivery_id FROM inbox WHERE account = ? AND remote_id = ?",
                        (account, item.in_reply_to),
                    ).fetchone()
                    delivery = parent[0] if parent else None
                key = inbox_id(account, item.remote_id)
                row = conn.execute(
                    "INSERT INTO inbox (id, account, platform, remote_id, kind, author, text, url,"
                    " created_at, in_reply_to, delivery_id, by_self, attention, seen_at, rating)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT DO NOTHING RETURNING id",
                    (
                        key,
                        account,
                        platform,
                        item.remote_id,
                        item.kind,
                        item.author,
                        item.text,
                        item.url,
                        utc_text(item.created_at),
                        item.in_reply_to,
                        delivery,
                        int(item.by_self),
                        None if item.by_self else attention.get(item.remote_id),
                        utc_text(now),
                        item.rating,
                    ),
                ).fetchone()
                if row is not None and not item.by_self:
                    new_ids.append(key)
            # An answer of ours on the platform settles what it answers (also an older one).
            conn.execute(
                "UPDATE inbox SET answered_at = (SELECT MIN(a.created_at) FROM inbox a"
                "   WHERE a.account = inbox.account AND a.by_self = 1"
                "     AND a.in_reply_to = inbox.remote_id),"
                " answered_by = (SELECT MIN(a.remote_id) FROM inbox a"
                "   WHERE a.account = inbox.account AND a.by_self = 1"
                "     AND a.in_reply_to = inbox.remote_id)"
                " WHERE account = ? AND answered_at IS NULL AND by_self = 0 AND EXISTS ("
                "   SELECT 1 FROM inbox a WHERE a.account = inbox.account AND a.by_self = 1"
                "     AND a.in_reply_to = inbox.remote_id)",
                (account,),
            )
            for item_id, answer in sent:
                _answered(conn, item_id, at=answer.published_at, by=answer.remote_id)
        return self.inbox_items(ids=new_ids) if new_ids else []

    def inbox_items(
        self,
        *,
        ids: Sequence[str] | None = None,
        open_only: bool = False,
        since: datetime | None = None,
    ) -> list[InboxItem]:
        """Inbox items, newest first (``open_only``: not ours, not answered, not done)."""
        where, params = ["1 = 1"], list[Any]()
        if ids is not None:
            where.append(f"id IN ({', '.join('?' for _ in ids)})")
            params += list(ids)
        if open_only:
            where.append("by_self = 0 AND answered_at IS NULL AND done_at IS NULL")
        if since is not None:
            where.append("created_at >= ?")
            params.append(utc_text(since))
        rows = self._rows(
            f"SELECT * FROM inbox WHERE {' AND '.join(where)} ORDER BY created_at DESC, id", params
        )
        # Our own thread parts (kept by an older klapper) are not replies: leave them out.
        ours = self.ledger.remote_ids()
        return [_item(row) for row in rows if (row["account"], row["remote_id"]) not in ours]

    def mark_done(self, item_id: str, *, now: datetime) -> InboxItem | None:
        """`klapper inbox done ID`; None when there is no such item."""
        with self.ledger.transaction() as conn:
            conn.execute(
                "UPDATE inbox SET done_at = ? WHERE id = ? AND done_at IS NULL",
                (utc_text(now), item_id),
            )
        found = self.inbox_items(ids=[item_id])
        return found[0] if found else None

    # --- answers sent from the inbox ------------------------------------------------------

    def keep_answer(self, answer: Answer, *, now: datetime) -> None:
        """Remember what an answer's delivery sends (its text, for a retry after a crash)."""
        with self.ledger.transaction() as conn:
            conn.execute(
                "INSERT INTO answers (delivery_id, item_id, text, saved, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (answer.delivery_id, answer.item_id, answer.text, answer.saved, utc_text(now)),
            )

    def answer(self, delivery_id: str) -> Answer | None:
        """What the answer delivery ``delivery_id`` sends; None when it was never kept here."""
        rows = self._rows(
            "SELECT delivery_id, item_id, text, saved FROM answers WHERE delivery_id = ?",
            (delivery_id,),
        )
        if not rows:
            return None
        row = rows[0]
        return Answer(row["delivery_id"], row["item_id"], row["text"], row["saved"])

    def mark_answered(self, item_id: str, *, at: datetime, by: str) -> None:
        """The account answered the item (from klapper): it leaves the open inbox."""
        with self.ledger.transaction() as conn:
            _answered(conn, item_id, at=at, by=by)

    # --- marks: cursors and notices already sent -------------------------------------------

    def mark(self, name: str) -> str | None:
        rows = self._rows("SELECT value FROM engagement_marks WHERE name = ?", (name,))
        return rows[0]["value"] if rows else None

    def set_mark(self, name: str, value: str, *, now: datetime) -> None:
        with self.ledger.transaction() as conn:
            conn.execute(
                "INSERT INTO engagement_marks (name, value, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
                " updated_at = excluded.updated_at",
                (name, value, utc_text(now)),
            )
