"""The inbox: replies and mentions from fake Mastodon and X servers, answers, attention marks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from klapper.adapters.mastodon.adapter import MastodonAdapter
from klapper.engagement.attention import attention
from tests.engagement.helpers import World, config_for
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.x import ME_ID, adapter_case


@pytest.fixture
def masto(tmp_path: Path, ledger_url: str | None) -> Iterator[tuple[World, FakeMastodon]]:
    with FakeMastodon() as server:
        adapter = MastodonAdapter(
            name="masto",
            settings={"instance": server.url, "cache_dir": str(tmp_path)},
            secrets={"access_token": server.state.token},
            repo=tmp_path,
            timeout=2.0,
        )
        world = World(
            state=tmp_path / "state",
            config=config_for({"masto": "mastodon"}),
            adapters=lambda name: adapter,
            url=ledger_url,
        )
        server.state.clock = world.clock
        yield world, server
        world.close()
        adapter.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # English
        ("@shop When do you open tomorrow", "question"),
        ("Is the advent sale still on", "question"),
        ("how much is the workshop?", "question"),
        ("My mug arrived broken. I want a refund", "complaint"),
        ("Worst service ever, never again!", "complaint"),
        ("Why is the checkout still not working?", "complaint"),  # a complaint first
        ("Lovely pots, thank you!", None),
        ("Great work, what a day!", None),
        # German
        ("@laden Wann ist der nächste Kurs", "question"),
        ("Gibt es noch Gutscheine", "question"),
        ("Kann man auch samstags kommen?", "question"),
        ("Die Tasse kam kaputt an", "complaint"),
        ("Der Link funktioniert nicht", "complaint"),
        ("Ich bin sehr enttäuscht von der Lieferung", "complaint"),
        ("Absolute Frechheit, ich will eine Rückerstattung", "complaint"),
        ("Was für ein schöner Kurs!", None),
        ("Danke, sehr schön geworden", None),
    ],
)
def test_attention_rules_in_english_and_german(text: str, expected: str | None) -> None:
    assert attention(text) == expected


def test_replies_and_mentions_are_kept_and_listed_newest_first(masto) -> None:
    world, server = masto
    ours = server.state.add_status(text="Our advent sale starts today")
    delivery = world.publish("advent", account="masto", remote_ids=[ours["id"]])
    world.clock.advance(minutes=10)
    question = server.state.add_reply(to=ours["id"], text="Wann startet der Kurs?", by="alice")
    world.clock.advance(minutes=10)
    mention = server.state.add_mention(text="Love this little shop", by="bob")
    world.clock.advance(minutes=10)

    report = world.poller.run_round()
    assert {i.remote_id for i in report.new_items} == {question["id"], mention["id"]}
    listed = world.store.inbox_items(open_only=True)
    assert [i.remote_id for i in listed] == [mention["id"], question["id"]]  # newest first
    reply = listed[1]
    assert (reply.kind, reply.author, reply.delivery_id, reply.attention) == (
        "reply",
        "@alice",
        delivery.id,
        "question",
    )
    assert reply.url and reply.url.endswith(question["id"]) and "Wann startet" in reply.text
    assert (listed[0].kind, listed[0].delivery_id, listed[0].attention) == ("mention", None, None)

    # The next read starts where this one ended: nothing is kept twice.
    world.clock.advance(minutes=20)
    assert world.poller.run_round().new_items == []
    assert len(world.store.inbox_items()) == 2


def test_a_reply_the_account_answered_on_the_platform_counts_as_answered(masto) -> None:
    world, server = masto
    ours = server.state.add_status(text="New pottery class on Thursdays")
    world.publish("class", account="masto", remote_ids=[ours["id"]])
    world.clock.advance(minutes=5)
    asked = server.state.add_reply(to=ours["id"], text="Is there parking nearby?", by="carol")
    kept = server.state.add_reply(to=ours["id"], text="My order is broken", by="dave")
    world.poller.run_round()
    assert len(world.store.inbox_items(open_only=True)) == 2

    world.clock.advance(minutes=20)
    answer = server.state.add_status(
        text="@carol Yes, right behind the studio", by="shop", in_reply_to_id=asked["id"]
    )
    world.poller.run_round()
    waiting = world.store.inbox_items(open_only=True)
    assert [i.remote_id for i in waiting] == [kept["id"]]
    stored = {i.remote_id: i for i in world.store.inbox_items()}
    assert stored[asked["id"]].answered_by == answer["id"]
    assert stored[asked["id"]].answered_at is not None
    assert stored[answer["id"]].by_self  # our answer is kept, never listed

    done = world.store.mark_done(waiting[0].id, now=world.clock.now)
    assert done is not None and done.done_at == world.clock.now
    assert world.store.inbox_items(open_only=True) == []


def test_inbox_reads_wait_for_inbox_every(masto) -> None:
    world, server = masto
    world.poller.run_round()
    before = server.state.count("GET", "/api/v1/notifications")
    world.clock.advance(minutes=5)
    world.poller.run_round()
    assert server.state.count("GET", "/api/v1/notifications") == before  # 15 min not yet up
    assert world.poller.next_round() == world.clock.now + timedelta(minutes=10)
    world.clock.advance(minutes=10)
    world.poller.run_round()
    assert server.state.count("GET", "/api/v1/notifications") == before + 1


def test_rate_limit_while_reading_the_inbox_waits_for_the_reset(masto) -> None:
    world, server = masto
    server.state.fail_next("rate_limit", method="GET", path="/api/v1/notifications")
    report = world.poller.run_round()
    assert "masto" in report.waiting and report.new_items == []
    assert world.store.account_marks()["masto"]["inbox_checked_at"] is None
    assert world.ledger.accounts().get("masto") is None  # the publisher's state: untouched


def test_x_replies_mentions_and_our_own_answers(tmp_path: Path) -> None:
    with adapter_case(tmp_path) as case:
        world = World(
            state=tmp_path / "state",
            config=config_for({"x": "x"}),
            adapters=lambda name: case.adapter,
        )
        fake = case.fake
        fake.add_user("77", "erika")
        ours = fake.add_tweet(author_id=ME_ID, text="Gift vouchers are back")
        world.publish("vouchers", account="x", remote_ids=[ours])
        complaint = fake.add_tweet(
            author_id="77", text="@klapper_shop Die Seite geht nicht", reply_to=ours
        )
        question = fake.add_tweet(
            author_id="77", text="@klapper_shop Gibt es die auch online", reply_to=ours
        )
        fake.add_tweet(author_id=ME_ID, text="@erika Ja, im Shop", reply_to=question)
        mention = fake.add_tweet(author_id="77", text="Heute bei @klapper_shop gewesen")
        report = world.poller.run_round()
        assert {i.remote_id for i in report.new_items} == {complaint, question, mention}
        waiting = {i.remote_id: i for i in world.store.inbox_items(open_only=True)}
        assert set(waiting) == {complaint, mention}  # the question was answered on X
        assert waiting[complaint].attention == "complaint"
        assert waiting[complaint].url == f"https://x.com/erika/status/{complaint}"
        assert waiting[mention].kind == "mention"
        world.close()
