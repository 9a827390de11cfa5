"""Delivery states, the moves between them, and the rows the ledger hands out."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum


class State(str, Enum):
    """Where a delivery stands. Every state has a way out (see ``TRANSITIONS``)."""

    PLANNED = "planned"  # waiting for its due time
    CLAIMED = "claimed"  # one process is publishing it right now
    PUBLISHED = "published"  # every part is on the platform
    FAILED = "failed"  # retry at ``retry_at``; final when ``retry_at`` is None
    UNKNOWN = "unknown"  # a crash or timeout hid the outcome: `find` before any retry
    MISSED = "missed"  # came due while klapper was down, beyond the catch-up window
    CANCELLED = "cancelled"  # removed or made a draft before it was due
    EDITED = "edited"  # changed after it was published (never posted again)
    SKIPPED = "skipped"  # the user said `klapper skip`


#: state -> the states it may move to; the ledger refuses anything else.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.PLANNED: frozenset({State.CLAIMED, State.CANCELLED, State.MISSED, State.SKIPPED}),
    # A claim ends in an outcome; a dead owner's claim becomes UNKNOWN; an account paused
    # before anything went out hands the delivery back to PLANNED.
    State.CLAIMED: frozenset({State.PUBLISHED, State.FAILED, State.UNKNOWN, State.PLANNED}),
    State.PUBLISHED: frozenset({State.EDITED}),
    State.FAILED: frozenset({State.CLAIMED, State.CANCELLED, State.SKIPPED, State.FAILED}),
    State.UNKNOWN: frozenset({State.CLAIMED, State.SKIPPED, State.FAILED}),
    State.MISSED: frozenset({State.PLANNED, State.FAILED, State.SKIPPED}),
    State.CANCELLED: frozenset({State.PLANNED}),
    State.EDITED: frozenset({State.EDITED}),
    State.SKIPPED: frozenset({State.PLANNED, State.FAILED}),
}

#: ``in_flight`` of a delivery the ledger never saw publishing (it was lost or new): any part
#: from the first one not recorded on may be on the platform, so each is looked for in turn
EVERY_PART = -1

#: states in which a delivery may still go out without the user doing anything
ACTIVE = frozenset({State.PLANNED, State.CLAIMED, State.FAILED, State.UNKNOWN})
#: states whose delivery is on the platform
ON_PLATFORM = frozenset({State.PUBLISHED, State.EDITED})


def delivery_id(key: str, *, salt: int = 0) -> str:
    """A short, stable id for a delivery key (post|occurrence|account); ``salt`` on collision."""
    blob = key if salt == 0 else f"{key}#{salt}"
    return "d" + hashlib.sha256(blob.encode()).hexdigest()[:10]


def idempotency_key(delivery: str, part: int) -> str:
    """The key one part of a delivery carries on every attempt: derived, never random."""
    return f"klapper-{delivery}-{part}"


#: how an answer's delivery names its "post": ``reply:`` + the inbox item + the text's hash
ANSWER_PREFIX = "reply:"


def answer_post_id(*, item: str, text: str) -> str:
    """The post id of an answer to inbox ``item`` with ``text``: the same text, the same id.

    An answer is a delivery like a post's (claimed, recorded, looked for before a retry);
    keyed by the item and the text, a second identical command finds the first.
    """
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return f"{ANSWER_PREFIX}{item}/{digest}"


def answered_item(post_id: str) -> str | None:
    """The inbox item an answer's post id answers; None for a post from the repository."""
    if not post_id.startswith(ANSWER_PREFIX):
        return None
    return post_id[len(ANSWER_PREFIX) :].split("/", 1)[0]


def utc_text(moment: datetime) -> str:
    """UTC in one fixed ISO form, so that text order is time order (SQLite and PostgreSQL)."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: klapper stores aware UTC times only")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_utc_text(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class Delivery:
    """One row of the ledger: one post (or occurrence) to one account."""

    id: str
    post_id: str
    occurrence: str
    account: str
    platform: str
    due: datetime
    state: State
    content_hash: str
    slotted: bool = False
    source: str = ""
    first_line: str = ""
    attempts: int = 0
    retry_at: datetime | None = None
    in_flight: int | None = None  # the part being published, or whose outcome is unknown
    claim_token: str | None = None
    claim_owner: str | None = None
    claimed_at: datetime | None = None
    remote_id: str | None = None
    url: str | None = None
    published_at: datetime | None = None
    reason: str | None = None
    updated_at: datetime | None = None

    @property
    def key(self) -> str:
        return f"{self.post_id}|{self.occurrence}|{self.account}"

    @property
    def final(self) -> bool:
        """Failed for good: nothing more happens unless the user says `klapper retry`."""
        return self.state is State.FAILED and self.retry_at is None

    def to_json(self) -> dict[str, object]:
        return {
            "delivery": self.id,
            "post": self.post_id,
            "occurrence": self.occurrence or None,
            "account": self.account,
            "platform": self.platform,
            "due": utc_text(self.due),
            "state": self.state.value,
            "attempts": self.attempts,
            "retry_at": utc_text(self.retry_at) if self.retry_at else None,
            "remote_id": self.remote_id,
            "url": self.url,
            "published_at": utc_text(self.published_at) if self.published_at else None,
            "reason": self.reason,
            "first_line": self.first_line,
            "source": self.source,
        }


@dataclass(frozen=True)
class AccountState:
    """What the ledger knows about an account: paused (auth), or waiting (rate limit)."""

    name: str
    paused_at: datetime | None = None
    pause_reason: str | None = None
    wait_until: datetime | None = None
    wait_reason: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "account": self.name,
            "paused_at": utc_text(self.paused_at) if self.paused_at else None,
            "pause_reason": self.pause_reason,
            "wait_until": utc_text(self.wait_until) if self.wait_until else None,
            "wait_reason": self.wait_reason,
        }


@dataclass(frozen=True)
class PartRecord:
    """A part of a delivery that is on the platform."""

    delivery_id: str
    part: int
    remote_id: str
    url: str | None
    published_at: datetime
    ref: dict[str, object]
