"""Answers from the inbox as the publisher sees them: the text an answer's delivery sends, the
item it answers, and the item marked answered once the answer is on the platform."""

from __future__ import annotations

from klapper.adapters.base import Published
from klapper.engagement.store import EngagementStore
from klapper.ledger import Delivery
from klapper.ledger.states import answered_item
from klapper.scheduler.publisher import AnswerJob


class InboxAnswers:
    """The publisher's ``AnswerSource`` over the engagement store in the ledger's file."""

    def __init__(self, store: EngagementStore) -> None:
        self.store = store

    def job(self, delivery: Delivery) -> AnswerJob | None:
        item_id = answered_item(delivery.post_id)
        answer = self.store.answer(delivery.id)
        if item_id is None or answer is None:
            return None  # kept by `klapper inbox reply` before it plans the delivery
        found = self.store.inbox_items(ids=[item_id])
        if not found:
            return None
        return AnswerJob(item_id=item_id, text=answer.text, item=found[0].as_interaction())

    def sent(self, delivery: Delivery, published: Published, *, job: AnswerJob) -> None:
        at = published.published_at or delivery.published_at or delivery.updated_at
        assert at is not None, "a published delivery has its time"
        self.store.mark_answered(job.item_id, at=at, by=published.remote_id)
