"""Answers in the engagement store, on both ledger backends: kept text, answered items,
answers left out of the posts, and a review's rating column."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from klapper.adapters.base import Interaction, Published
from klapper.engagement.store import Answer, EngagementStore, posts_only
from klapper.ledger import Ledger
from klapper.ledger.states import answer_post_id, answered_item
from klapper.scheduler.answers import InboxAnswers
from tests.engagement.helpers import record_published

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def test_answer_ids_name_their_item_and_text() -> None:
    first = answer_post_id(item="i0123456789", text="Danke!")
    assert first.startswith("reply:i0123456789/") and answered_item(first) == "i0123456789"
    assert answer_post_id(item="i0123456789", text="Danke!") == first
    assert answer_post_id(item="i0123456789", text="Danke schön!") != first
    assert answered_item("posts/advent.yaml") is None


def test_answers_in_the_store(tmp_path: Path, ledger_url: str | None) -> None:
    ledger = Ledger.open(state=tmp_path, url=ledger_url)
    try:
        store = EngagementStore(ledger)
        review = Interaction(
            remote_id="accounts/1/locations/2/reviews/r1",
            kind="review",
            author="Anna Berger",
            text="★★☆☆☆ Kalter Kaffee",
            url=None,
            created_at=NOW - timedelta(hours=3),
            rating=2,
        )
        [item] = store.add_interactions(
            account="bakery",
            platform="google-business",
            found=[review],
            owners={},
            attention={},
            now=NOW,
        )
        assert item.rating == 2 and item.to_json()["rating"] == 2 and item.open
        post_id = answer_post_id(item=item.id, text="Das tut uns leid.")
        delivery = record_published(
            ledger,
            post_id=post_id,
            account="bakery",
            platform="google-business",
            remote_ids=[f"{review.remote_id}/reply"],
            published_at=NOW - timedelta(hours=1),
        )
        store.keep_answer(Answer(delivery.id, item.id, "Das tut uns leid.", None), now=NOW)
        store.keep_answer(Answer(delivery.id, item.id, "changed?", None), now=NOW)  # kept once
        answers = InboxAnswers(store)
        job = answers.job(delivery)
        assert job is not None and (job.item_id, job.text) == (item.id, "Das tut uns leid.")
        assert job.item.remote_id == review.remote_id and job.item.rating == 2
        assert posts_only(ledger.published_deliveries()) == []

        # Polled again (as after a rebuilt ledger): the published answer settles the item.
        store.add_interactions(
            account="bakery",
            platform="google-business",
            found=[review],
            owners={},
            attention={},
            now=NOW,
        )
        [settled] = store.inbox_items(ids=[item.id])
        assert settled.answered_by == f"{review.remote_id}/reply" and not settled.open
        answers.sent(delivery, Published(remote_id="other", published_at=NOW), job=job)
        [same] = store.inbox_items(ids=[item.id])
        assert same.answered_by == settled.answered_by  # the first answer's mark stays
    finally:
        ledger.close()
