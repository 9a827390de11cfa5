"""Shared pieces of the engagement tests: a settable clock, published deliveries, a poller."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from klapper.adapters.base import Adapter, Interaction
from klapper.config.model import Config
from klapper.engagement.poller import Poller
from klapper.engagement.store import EngagementStore
from klapper.ledger import Delivery, EventLog, Ledger, PartRecord, State, delivery_id, read_events
from klapper.ledger.states import utc_text
from tests.scheduler.helpers import Clock


def mastodon_repo(
    tmp_path: Path, monkeypatch: Any, *, instance: str, token: str
) -> tuple[Path, Path]:
    """A content repository with one Mastodon account ``masto`` on ``instance`` (its token in
    the environment) and a state folder: ``(repo, state)`` for CLI tests."""
    repo, state = tmp_path / "repo", tmp_path / "state"
    (repo / "posts").mkdir(parents=True)
    settings = {"platform": "mastodon", "instance": instance}
    (repo / "klapper.yaml").write_text(
        yaml.safe_dump({"timezone": "Europe/Berlin", "accounts": {"masto": settings}}),
        encoding="utf-8",
    )
    monkeypatch.setenv("KLAPPER_SECRETS", str(tmp_path / "no-secrets.yaml"))
    monkeypatch.setenv("KLAPPER_MASTO_ACCESS_TOKEN", token)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return repo, state


def published_status(server: Any, state: Path, *, text: str, post_id: str, ago: timedelta) -> Any:
    """A status on the fake Mastodon ``server``, in the ledger at ``state`` as the delivery
    ``post_id`` of account ``masto``, published ``ago``; returns the status."""
    status = server.state.add_status(text=text)
    ledger = Ledger.open(state=state)
    try:
        record_published(
            ledger,
            post_id=post_id,
            account="masto",
            platform="mastodon",
            remote_ids=[status["id"]],
            published_at=datetime.now(UTC) - ago,
        )
    finally:
        ledger.close()
    return status


def question_in_inbox(
    store: EngagementStore, *, status: Any, question: Any, text: str, owners: Mapping[str, str]
) -> Any:
    """The fake Mastodon reply ``question`` (saying ``text``) from @alice under ``status``, in
    the inbox of account ``masto`` as a refresh would keep it; returns the inbox item."""
    [item] = store.add_interactions(
        account="masto",
        platform="mastodon",
        found=[
            Interaction(
                remote_id=question["id"],
                kind="reply",
                author="@alice",
                text=text,
                url=question["url"],
                created_at=datetime.now(UTC),
                in_reply_to=status["id"],
            )
        ],
        owners=owners,
        attention={},
        now=datetime.now(UTC),
    )
    return item


def config_for(accounts: Mapping[str, str | Mapping[str, Any]], **engagement: Any) -> Config:
    """A Config with ``accounts`` (name -> platform, or its whole settings) and engagement
    settings."""
    return Config.model_validate(
        {
            "timezone": "Europe/Berlin",
            "accounts": {
                name: {"platform": given} if isinstance(given, str) else dict(given)
                for name, given in accounts.items()
            },
            "engagement": engagement,
        }
    )


def record_published(
    ledger: Ledger,
    *,
    post_id: str,
    account: str,
    platform: str,
    remote_ids: Sequence[str],
    published_at: datetime,
) -> Delivery:
    """Put a delivery into the ledger as the publisher would have: published, part by part."""
    row = ledger.insert_planned(
        post_id=post_id,
        occurrence="",
        account=account,
        platform=platform,
        due=published_at,
        content_hash=f"hash-{post_id}",
        slotted=False,
        source=f"posts/{post_id}.yaml",
        first_line=f"Post {post_id}",
        now=published_at,
    )
    claimed = ledger.claim(row.id, token="t", owner="test", now=published_at)
    assert claimed is not None
    parts = [
        PartRecord(
            delivery_id=row.id,
            part=index,
            remote_id=rid,
            url=f"https://example.social/{rid}",
            published_at=published_at,
            ref={},
        )
        for index, rid in enumerate(remote_ids)
    ]
    for part in parts:
        ledger.record_part(part, token="t", now=published_at)
    done = ledger.update(
        row.id,
        now=published_at,
        expect=[State.CLAIMED],
        state=State.PUBLISHED,
        token="t",
        remote_id=parts[0].remote_id,
        url=parts[0].url,
        published_at=published_at,
        claim_token=None,
    )
    assert done is not None
    return done


def bulk_published(
    ledger: Ledger,
    rows: Sequence[tuple[str, str, str, str, datetime]],
    *,
    first_lines: Mapping[str, str] | None = None,
) -> None:
    """Many single-part published deliveries (post, account, platform, remote id, when) in one
    transaction: what ``record_published`` does, without a commit (and fsync) per step."""
    with ledger.transaction() as conn:
        for post_id, account, platform, remote_id, when in rows:
            key = delivery_id(f"{post_id}||{account}")
            at = utc_text(when)
            conn.execute(
                "INSERT INTO deliveries (id, post_id, occurrence, account, platform, due,"
                " content_hash, first_line, state, remote_id, url, published_at, created_at,"
                " updated_at) VALUES (?, ?, '', ?, ?, ?, ?, ?, 'published', ?, ?, ?, ?, ?)",
                (
                    key,
                    post_id,
                    account,
                    platform,
                    at,
                    f"hash-{post_id}",
                    (first_lines or {}).get(post_id, f"Post {post_id}"),
                    remote_id,
                    f"https://example.social/{remote_id}",
                    at,
                    at,
                    at,
                ),
            )
            conn.execute(
                "INSERT INTO parts (delivery_id, part, remote_id, url, published_at)"
                " VALUES (?, 0, ?, ?, ?)",
                (key, remote_id, f"https://example.social/{remote_id}", at),
            )


@dataclass
class World:
    """A ledger, an event log and a poller over adapters the test provides."""

    state: Path
    config: Config
    adapters: Callable[[str], Adapter]
    clock: Clock = field(default_factory=Clock)
    #: a shared ledger's URL (PostgreSQL), else SQLite in ``state``
    url: str | None = None

    def __post_init__(self) -> None:
        self.ledger = Ledger.open(state=self.state, url=self.url)
        self.events = EventLog(self.state / "events.jsonl")
        self.store = EngagementStore(self.ledger)
        self.poller = Poller(
            ledger=self.ledger,
            events=self.events,
            config=self.config,
            adapters=self.adapters,
            clock=self.clock,
        )

    def publish(
        self,
        post_id: str,
        *,
        account: str,
        remote_ids: Sequence[str],
        ago: timedelta = timedelta(0),
    ) -> Delivery:
        platform = self.config.accounts[account].platform
        return record_published(
            self.ledger,
            post_id=post_id,
            account=account,
            platform=platform,
            remote_ids=remote_ids,
            published_at=self.clock.now - ago,
        )

    def engagement_events(self) -> list[dict[str, Any]]:
        return [e for e in read_events(self.events.path) if e["event"] == "engagement"]

    def close(self) -> None:
        self.events.close()
        self.ledger.close()
