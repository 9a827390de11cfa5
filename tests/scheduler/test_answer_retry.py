"""An answer that failed for a while goes out later by itself, once, like a post: the engine's
publisher (the daemon's, `publish --due`'s) finds its text beside the inbox."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from klapper.engagement.store import EngagementStore
from klapper.ledger import State
from klapper.scheduler.engine import Engine
from klapper.scheduler.reply import find_item, send_reply
from tests.engagement.helpers import mastodon_repo, published_status, question_in_inbox
from tests.fakes.mastodon import FakeMastodon


def test_a_failed_answer_is_retried_by_the_publisher_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeMastodon() as server:
        repo, state = mastodon_repo(
            tmp_path, monkeypatch, instance=server.url, token=server.state.token
        )
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
        status = published_status(server, state, text="Kurse", post_id="kurse", ago=timedelta(1))
        question = server.state.add_reply(to=status["id"], text="Noch Plätze frei?")
        engine = Engine(repo=repo, state=state)
        try:
            engine.reload()
            new = question_in_inbox(
                EngagementStore(engine.ledger),
                status=status,
                question=question,
                text="Noch Plätze frei?",
                owners={},
            )
            server.state.fail_next("server_error")
            failed = send_reply(engine, find_item(engine, new.id), text="Ja, zwei.")
            assert failed.delivery.state is State.FAILED and failed.delivery.retry_at
            retry_at = failed.delivery.retry_at
        finally:
            engine.close()
        assert not [s for s in server.state.posts() if "Ja, zwei." in str(s["text"])]

        later = Engine(repo=repo, state=state, clock=lambda: retry_at + timedelta(seconds=1))
        try:
            later.reload()
            assert later.publisher is not None
            [outcome] = later.publisher.publish_due()
            assert outcome.ok and outcome.delivery.id == failed.delivery.id
            assert later.publisher.publish_due() == []
            [item] = EngagementStore(later.ledger).inbox_items(ids=[new.id])
            assert item.answered_by == outcome.delivery.remote_id
        finally:
            later.close()
        sent = [s for s in server.state.posts() if s["text"] == "@alice Ja, zwei."]
        assert len(sent) == 1 and sent[0]["reply_to"] == question["id"]
