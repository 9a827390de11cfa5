"""What `klapper status` shows: upcoming, recent, failed, unknown, missed, paused accounts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from klapper.config.expiry import ExpiringCredential
from klapper.ledger import AccountState, Delivery, Ledger
from klapper.ledger.states import utc_text
from klapper.scheduler.evergreen import recurrence_number


@dataclass(frozen=True)
class Process:
    """One process that wrote to a shared ledger lately (from its ``events`` table)."""

    owner: str  # host:pid:start
    last_seen: datetime
    published: int
    failed: int

    def to_json(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "last_seen": utc_text(self.last_seen),
            "published": self.published,
            "failed": self.failed,
        }


def _delivery(d: Delivery) -> dict[str, Any]:
    """A delivery as `status --format json` shows it: with its evergreen time round (or None)."""
    return {**d.to_json(), "evergreen": recurrence_number(d.occurrence) or None}


@dataclass(frozen=True)
class Status:
    upcoming: list[Delivery]
    recent: list[Delivery]
    failed: list[Delivery]  # retry pending, or final
    unknown: list[Delivery]
    missed: list[Delivery]
    accounts: list[AccountState]  # paused or waiting out a rate limit
    config_paused: list[str]  # `paused: true` in klapper.yaml
    expiring: list[ExpiringCredential] = field(default_factory=list)  # within 7 days
    held: dict[str, str] = field(default_factory=dict)  # delivery id -> `klapper check` error
    no_credentials: dict[str, str] = field(default_factory=dict)  # account -> what to do
    #: a shared ledger: the processes that wrote to it lately (None: a SQLite ledger)
    processes: list[Process] | None = None

    @property
    def needs_attention(self) -> bool:
        return bool(
            self.unknown
            or self.missed
            or any(d.final for d in self.failed)
            or any(a.paused_at for a in self.accounts)
            or self.expiring
            or self.held
            or self.no_credentials
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "upcoming": [_delivery(d) for d in self.upcoming],
            "recent": [_delivery(d) for d in self.recent],
            "failed": [_delivery(d) for d in self.failed],
            "unknown": [_delivery(d) for d in self.unknown],
            "missed": [_delivery(d) for d in self.missed],
            "accounts": [a.to_json() for a in self.accounts]
            + [{"account": name, "paused_in_config": True} for name in self.config_paused],
            "expiring": [
                {
                    "account": c.account,
                    "platform": c.platform,
                    "key": c.key,
                    "expires_at": utc_text(c.expires_at),
                }
                for c in self.expiring
            ],
            "held": [{"delivery": id_, "reason": reason} for id_, reason in self.held.items()],
            "no_credentials": [
                {"account": name, "reason": reason} for name, reason in self.no_credentials.items()
            ],
            **(
                {"processes": [p.to_json() for p in self.processes]}
                if self.processes is not None
                else {}
            ),
        }


def collect_status(
    *,
    ledger: Ledger,
    now: datetime,
    config_paused: list[str] | None = None,
    limit: int = 20,
    recent_days: int = 7,
) -> Status:
    """Read the ledger for `klapper status` (``limit`` rows per list)."""
    since = now - timedelta(days=recent_days)
    accounts = [
        a
        for a in ledger.accounts().values()
        if a.paused_at is not None or (a.wait_until is not None and a.wait_until > now)
    ]
    return Status(
        upcoming=ledger.upcoming(limit=limit),
        recent=ledger.recently_published(since=since, limit=limit),
        failed=ledger.failed(limit=limit),
        unknown=ledger.unknown(limit=limit),
        missed=ledger.missed(since=since, limit=limit),
        accounts=accounts,
        config_paused=config_paused or [],
        processes=[Process(**row) for row in ledger.writers(since=since)]
        if ledger.shared
        else None,
    )
