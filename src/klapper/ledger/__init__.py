"""Durable state: the delivery ledger (SQLite) and the JSONL event log, in the state folder."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from klapper.ledger.events import EventLog, event_log_path, read_events
from klapper.ledger.queries import PublishedDelivery
from klapper.ledger.states import (
    ACTIVE,
    ON_PLATFORM,
    AccountState,
    Delivery,
    PartRecord,
    State,
    delivery_id,
    idempotency_key,
)
from klapper.ledger.store import Ledger


def state_dir(option: Path | None = None) -> Path:
    """The state folder: ``--state``, else $KLAPPER_STATE, else the XDG state folder."""
    if option is not None:
        return option.expanduser()
    env = os.environ.get("KLAPPER_STATE")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_state_dir("klapper"))


__all__ = [
    "ACTIVE",
    "ON_PLATFORM",
    "AccountState",
    "Delivery",
    "EventLog",
    "Ledger",
    "PartRecord",
    "PublishedDelivery",
    "State",
    "delivery_id",
    "event_log_path",
    "idempotency_key",
    "read_events",
    "state_dir",
]
