"""The ledger's named questions answer what their names say, alike on SQLite and PostgreSQL.

A ledger is filled through its own API on each backend (``ledger_url``: SQLite in the state
folder, or a PostgreSQL schema of the test's own) and asked the very same questions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from klapper.ledger import Delivery, Ledger, PartRecord, State
from klapper.ledger.queries import LedgerQueries

NOW = datetime(2026, 6, 1, 7, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _planned(ledger: Ledger, post: str, *, account: str = "a", due: datetime) -> Delivery:
    return ledger.insert_planned(
        post_id=post,
        occurrence="",
        account=account,
        platform="outbox",
        due=due,
        content_hash="h",
        slotted=False,
        source=f"{post}.yaml",
        first_line=post,
        now=due - HOUR,
    )


def _claimed(ledger: Ledger, post: str, *, account: str = "a", due: datetime) -> Delivery:
    row = _planned(ledger, post, account=account, due=due)
    claimed = ledger.claim(row.id, token=post, owner="test", now=due)
    assert claimed is not None
    return claimed


def filled(ledger: Ledger) -> Ledger:
    """One delivery in each state that a question tells apart; account b waits till NOW + 1h."""
    _planned(ledger, "due", due=NOW - HOUR)
    _planned(ledger, "later", due=NOW + HOUR)
    _planned(ledger, "b-due", account="b", due=NOW - 2 * HOUR)
    published = _claimed(ledger, "published", due=NOW - 2 * 24 * HOUR)
    ledger.record_part(
        PartRecord(
            delivery_id=published.id,
            part=0,
            remote_id="r0",
            url=None,
            published_at=published.due,
            ref={},
        ),
        token="published",
        now=published.due,
    )
    ledger.update(
        published.id,
        now=published.due,
        expect=[State.CLAIMED],
        state=State.PUBLISHED,
        token="published",
        remote_id="r0",
        published_at=published.due,
    )
    old = _claimed(ledger, "long-ago", due=NOW - 30 * 24 * HOUR)
    ledger.update(
        old.id,
        now=old.due,
        expect=[State.CLAIMED],
        state=State.PUBLISHED,
        token="long-ago",
        published_at=old.due,
    )
    final = _claimed(ledger, "final", due=NOW - 3 * HOUR)
    ledger.update(
        final.id,
        now=NOW - 2 * HOUR,
        expect=[State.CLAIMED],
        state=State.FAILED,
        token="final",
        retry_at=None,
        reason="refused",
    )
    retry = _claimed(ledger, "retry", due=NOW - 3 * HOUR)
    ledger.update(
        retry.id,
        now=NOW - 3 * HOUR,
        expect=[State.CLAIMED],
        state=State.FAILED,
        token="retry",
        retry_at=NOW - 10 * timedelta(minutes=1),
    )
    unknown = _claimed(ledger, "unknown", due=NOW - 3 * HOUR)
    ledger.update(
        unknown.id,
        now=NOW - 3 * HOUR,
        expect=[State.CLAIMED],
        state=State.UNKNOWN,
        token="unknown",
        retry_at=NOW + HOUR,
    )
    _planned(ledger, "missed", due=NOW - 3 * 24 * HOUR)
    _planned(ledger, "missed-long-ago", due=NOW - 20 * 24 * HOUR)
    ledger.mark_missed(before=NOW - 2 * 24 * HOUR, now=NOW)
    _claimed(ledger, "claimed", due=NOW - 5 * timedelta(minutes=1))
    ledger.set_account("b", now=NOW, wait_until=NOW + HOUR, wait_reason="rate limited")
    return ledger


def posts(rows: list[Delivery]) -> list[str]:
    return [row.post_id for row in rows]


#: each question, and what it answers on ``filled`` (post ids, in the order returned)
EXPECTED: dict[str, tuple[Callable[[LedgerQueries], Any], Any]] = {
    "unclaimed": (lambda q: len(q.unclaimed()), 10),
    "claimed": (lambda q: posts(q.claimed()), ["claimed"]),
    "upcoming": (lambda q: posts(q.upcoming(limit=3)), ["b-due", "due", "claimed"]),
    "recently_published": (
        lambda q: posts(q.recently_published(since=NOW - 7 * 24 * HOUR, limit=5)),
        ["published"],
    ),
    "failed": (lambda q: posts(q.failed(limit=5)), ["final", "retry"]),
    "final_failure_count": (lambda q: q.final_failure_count(), 1),
    "unknown": (lambda q: posts(q.unknown(limit=5)), ["unknown"]),
    "missed": (lambda q: posts(q.missed(since=NOW - 7 * 24 * HOUR, limit=5)), ["missed"]),
    "due": (lambda q: sorted(posts(q.due(now=NOW))), ["b-due", "due", "retry"]),
    "claimable": (lambda q: sorted(posts(q.claimable(now=NOW))), ["due", "retry"]),
    "waiting of b": (lambda q: posts(q.waiting(account="b")), ["b-due"]),
    "waiting": (
        lambda q: sorted(posts(q.waiting())),
        ["b-due", "due", "later", "retry", "unknown"],
    ),
    "changed": (
        lambda q: sorted(posts(q.changed(since=NOW))),
        ["later", "missed", "missed-long-ago"],
    ),
    "deliveries": (lambda q: len(q.deliveries()), 11),
}


@pytest.fixture
def queries(tmp_path: Path, ledger_url: str | None) -> Iterator[LedgerQueries]:
    ledger = filled(Ledger.open(state=tmp_path, url=ledger_url))
    yield ledger
    ledger.close()


@pytest.mark.parametrize("question", list(EXPECTED))
def test_each_named_question_answers_what_it_says(queries: LedgerQueries, question: str) -> None:
    ask, expected = EXPECTED[question]
    assert ask(queries) == expected


def test_select_is_private() -> None:
    assert not hasattr(LedgerQueries, "select") and not hasattr(LedgerQueries, "in_states")


def test_evergreen_context_alike_on_both(tmp_path: Path, ledger_url: str | None) -> None:
    ledger = Ledger.open(state=tmp_path, url=ledger_url)
    try:
        for post, occurrence, content, days in [
            ("ever", "", "h", 30),
            ("ever", "evergreen:1", "h", 3),  # its post's: however old
            ("same-words", "", "h2", 40),  # the same content as asked for
            ("other", "evergreen:2", "x", 1),  # a recent recurrence of any post
            ("other", "evergreen:1", "x", 5),  # too old for the per-day cap
            ("unrelated", "", "y", 1),
            ("repeat", "2026-05-31T07:00:00+00:00", "z", 1),  # a cron repeat is not evergreen
        ]:
            ledger.insert_planned(
                post_id=post,
                occurrence=occurrence,
                account="a",
                platform="outbox",
                due=NOW - days * 24 * HOUR,
                content_hash=content,
                slotted=True,
                source=f"{post}.yaml",
                first_line=post,
                now=NOW,
            )
        found = ledger.evergreen_context(
            post_ids={"ever"}, hashes={"h2"}, since=NOW - 2 * 24 * HOUR
        )
    finally:
        ledger.close()
    assert [(d.post_id, d.occurrence) for d in found] == [
        ("same-words", ""),
        ("ever", ""),
        ("ever", "evergreen:1"),
        ("other", "evergreen:2"),
    ]
