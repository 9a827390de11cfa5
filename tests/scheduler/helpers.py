"""Shared pieces of the engine tests: a settable clock, posts, and a publisher on a fake server."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from klapper.config.model import Config
from klapper.ledger import EventLog, Ledger, read_events
from klapper.queue.model import Part, Post, Source
from klapper.scheduler.publisher import Publisher
from tests.fakes.generic import FakeServer, generic_factory, token_for


@dataclass
class Clock:
    """A clock the test moves by hand; it starts at the real time (fake servers use that)."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def make_post(
    post_id: str,
    *,
    to: tuple[str, ...] = ("a",),
    text: str | None = None,
    thread: tuple[str, ...] = (),
    at: datetime | None = None,
    **kw: Any,
) -> Post:
    return Post(
        id=post_id,
        source=Source(f"posts/{post_id}.yaml"),
        text=text if text is not None else f"Post {post_id}",
        to=to,
        thread=tuple(Part(text=t) for t in thread),
        at=at,
        **kw,
    )


def make_config(accounts: tuple[str, ...] = ("a", "b"), **publishing: Any) -> Config:
    settings = {"backoff": "10s", "max_backoff": "5m", "timeout": "0.5s", **publishing}
    return Config.model_validate(
        {
            "accounts": {name: {"platform": "outbox", "path": f"out-{name}"} for name in accounts},
            "publishing": settings,
        }
    )


@dataclass
class Env:
    """A ledger, an event log and a publisher that talks to a running fake server."""

    state: Path
    server: FakeServer
    config: Config
    clock: Clock = field(default_factory=Clock)
    posts: dict[str, Post] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for account in self.config.accounts:
            self.server.platform.tokens[token_for(account)] = account
        self.ledger = Ledger.open(state=self.state)
        self.events = EventLog(self.state / "events.jsonl")
        self.publisher = Publisher(
            ledger=self.ledger,
            events=self.events,
            config=self.config,
            posts=self.posts,
            adapters=generic_factory(
                api_base=self.server.url,
                repo=self.state,
                timeout=self.config.publishing.timeout.total_seconds(),
            ),
            clock=self.clock,
            rng=random.Random(7),
        )

    def plan(self, post: Post, *, due: datetime | None = None) -> list[str]:
        """Put ``post`` into the ledger as planned for each account; returns delivery ids."""
        self.posts[post.id] = post
        self.publisher.use(config=self.config, posts=self.posts)
        ids = []
        for account in post.to:
            row = self.ledger.insert_planned(
                post_id=post.id,
                occurrence="",
                account=account,
                platform="outbox",
                due=due or self.clock.now,
                content_hash=post.content_hash(account, "outbox"),
                slotted=False,
                source=post.source.file,
                first_line=post.first_line,
                now=self.clock.now,
            )
            ids.append(row.id)
        return ids

    def events_named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in read_events(self.events.path) if e["event"] == name]

    def on_server(self, account: str | None = None) -> list[str]:
        return [p.text for p in self.server.platform.posts if account in (None, p.account)]

    def close(self) -> None:
        self.ledger.close()
        self.events.close()
