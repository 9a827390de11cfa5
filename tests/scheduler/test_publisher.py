"""The publisher against the fake platform: every way a call can end, and what the ledger keeps."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from klapper.config.model import Links
from klapper.ledger import Ledger, State
from tests.scheduler.helpers import Env, make_config, make_post


def test_publishes_once_and_records_where(env: Env) -> None:
    (delivery,) = env.plan(make_post("p1"))
    outcome = env.publisher.publish(delivery)
    assert outcome is not None and outcome.ok
    row = env.ledger.get(delivery)
    assert row.state is State.PUBLISHED and row.remote_id == "1"
    assert row.url == "http://fake/a/1" and row.published_at is not None
    assert env.on_server() == ["Post p1"]
    (event,) = env.events_named("published")
    assert event["delivery"] == delivery and event["account"] == "a" and event["post"] == "p1"
    # Published is final: another attempt claims nothing and posts nothing.
    assert env.publisher.publish(delivery) is None
    assert len(env.server.platform.posts) == 1


def test_thread_retry_continues_at_the_failed_part(env: Env) -> None:
    (delivery,) = env.plan(make_post("t", thread=("two", "three")))
    sent: list[int] = []
    build = env.publisher.adapters

    def adapters(account: str):
        adapter = build(account)
        real = adapter.publish

        def publish(outgoing):
            if outgoing.part == 2 and 2 not in sent:
                env.server.platform.fail_next("500")  # the third part fails, once
            sent.append(outgoing.part)
            return real(outgoing)

        adapter.publish = publish  # type: ignore[method-assign]
        return adapter

    env.publisher.adapters = adapters
    outcome = env.publisher.publish(delivery)
    assert outcome.event == "retry" and outcome.delivery.in_flight == 2
    assert [p.part for p in env.ledger.parts(delivery)] == [0, 1]
    env.clock.now = outcome.delivery.retry_at
    assert env.publisher.publish(delivery).ok
    assert sent == [0, 1, 2, 2]  # parts 1-2 were never sent again
    assert env.on_server() == ["Post t", "two", "three"]
    posts = {p.text: p for p in env.server.platform.posts}
    assert posts["three"].reply_to == posts["two"].id
    assert posts["two"].reply_to == posts["Post t"].id
    assert [e["found"] for e in env.events_named("reconciled")] == [False]


def test_server_error_retries_with_persisted_backoff(env: Env) -> None:
    (delivery,) = env.plan(make_post("p"))
    env.server.platform.fail_next("500", times=2)
    first = env.publisher.publish(delivery)
    assert first.event == "retry" and first.delivery.state is State.FAILED
    delay = first.delivery.retry_at - env.clock.now
    assert timedelta(seconds=5) <= delay <= timedelta(seconds=10)  # 10s base, 50-100% jitter
    # A restart (a new ledger connection) knows the next try.
    reopened = Ledger.open(state=env.state)
    assert reopened.get(delivery).retry_at == first.delivery.retry_at
    reopened.close()
    assert env.publisher.publish(delivery) is None  # not yet
    env.clock.now = first.delivery.retry_at
    second = env.publisher.publish(delivery)
    assert second.event == "retry" and second.delivery.attempts == 2
    assert second.delivery.retry_at - env.clock.now >= timedelta(seconds=10)  # doubled
    env.clock.now = second.delivery.retry_at
    assert env.publisher.publish(delivery).ok
    assert env.on_server() == ["Post p"]


def test_gives_up_after_the_configured_retries(env: Env) -> None:
    (delivery,) = env.plan(make_post("p"))
    env.server.platform.fail_next("500", times=10)
    events = []
    for _ in range(env.config.publishing.retries + 1):
        outcome = env.publisher.publish(delivery)
        events.append(outcome.event)
        if outcome.delivery.retry_at:
            env.clock.now = outcome.delivery.retry_at
    assert events == ["retry"] * env.config.publishing.retries + ["failed"]
    row = env.ledger.get(delivery)
    assert row.final and "Internal server error" in row.reason


def test_rate_limit_waits_for_that_account_only(env: Env) -> None:
    first_a, first_b = env.plan(make_post("p1", to=("a", "b")))
    (second_a,) = env.plan(make_post("p2", to=("a",)))
    env.server.platform.fail_next("429", account="a", reset_in=600)
    outcome = env.publisher.publish(first_a)
    assert outcome.event == "retry"
    wait = env.ledger.accounts()["a"].wait_until
    assert timedelta(seconds=590) < wait - env.clock.now <= timedelta(seconds=601)
    assert outcome.delivery.retry_at == wait and outcome.delivery.attempts == 0
    assert env.publisher.publish(second_a) is None  # account a waits ...
    assert env.publisher.publish(first_b).ok  # ... account b does not
    env.clock.now = wait
    assert env.publisher.publish(first_a).ok and env.publisher.publish(second_a).ok
    assert sorted(env.on_server()) == ["Post p1", "Post p1", "Post p2"]


def test_revoked_token_pauses_that_account_only(env: Env) -> None:
    a1, b1 = env.plan(make_post("p1", to=("a", "b")))
    (a2,) = env.plan(make_post("p2", to=("a",)))
    env.server.platform.fail_next("401", account="a")
    outcome = env.publisher.publish(a1)
    assert outcome.event == "paused" and outcome.delivery.state is State.PLANNED
    account = env.ledger.accounts()["a"]
    assert account.paused_at is not None and "revoked" in account.pause_reason
    assert env.publisher.publish(a2) is None
    assert env.publisher.publish(b1).ok
    (paused,) = env.events_named("paused")
    assert paused["account"] == "a" and "revoked" in paused["reason"]
    env.ledger.set_account("a", now=env.clock.now, paused_at=None, pause_reason=None)
    assert env.publisher.publish(a1).ok and env.publisher.publish(a2).ok


def test_permanent_refusal_is_final_with_the_platform_reason(env: Env) -> None:
    (delivery,) = env.plan(make_post("p"))
    env.server.platform.fail_next("422")
    outcome = env.publisher.publish(delivery)
    assert outcome.event == "failed" and outcome.delivery.final
    assert outcome.delivery.reason == "Validation failed: Text is too long"
    env.clock.advance(days=1)
    assert env.publisher.publish(delivery) is None
    assert env.on_server() == []


def test_timeout_after_acceptance_is_found_not_reposted(env: Env) -> None:
    (delivery,) = env.plan(make_post("p"))
    env.server.platform.hold = 1.5  # longer than the client's 0.5 s timeout
    env.server.platform.fail_next("timeout")
    outcome = env.publisher.publish(delivery)
    assert outcome.event == "unknown" and outcome.delivery.state is State.UNKNOWN
    assert env.on_server() == ["Post p"]  # it did land
    env.clock.now = outcome.delivery.retry_at
    assert env.publisher.publish(delivery).ok
    assert env.on_server() == ["Post p"]  # and it was found, not sent again
    (reconciled,) = env.events_named("reconciled")
    assert reconciled["found"] is True and reconciled["remote_id"] == "1"


def test_dropped_connections_before_and_after_storing(env: Env) -> None:
    before, after = env.plan(make_post("p", to=("a", "b")))
    env.server.platform.fail_next("drop", account="a")
    env.server.platform.fail_next("drop_after", account="b")
    for delivery in (before, after):
        outcome = env.publisher.publish(delivery)
        assert outcome.event == "retry" and outcome.delivery.in_flight == 0
    assert env.on_server("a") == [] and env.on_server("b") == ["Post p"]
    env.clock.advance(minutes=10)
    assert env.publisher.publish(before).ok and env.publisher.publish(after).ok
    assert env.on_server("a") == ["Post p"] and env.on_server("b") == ["Post p"]
    found = {e["account"]: e["found"] for e in env.events_named("reconciled")}
    assert found == {"a": False, "b": True}


def test_claim_of_a_dead_process_becomes_unknown_then_found(env: Env) -> None:
    (delivery,) = env.plan(make_post("p"))
    claimed = env.ledger.claim(delivery, token="t", owner="elsewhere:1:1", now=env.clock.now)
    assert claimed is not None
    # The dead process got the post out before it died.
    env.server.platform.store(account="a", body={"text": "Post p"}, key=f"klapper-{delivery}-0")
    assert env.publisher.publish(delivery) is None  # claimed: nobody else may touch it
    released = env.ledger.release_dead_claims(now=env.clock.now, alive=lambda d: False)
    assert [d.state for d in released] == [State.UNKNOWN] and released[0].in_flight == 0
    assert env.publisher.publish(delivery).ok
    assert env.on_server() == ["Post p"]


def test_planned_beyond_catch_up_is_missed(env: Env) -> None:
    (old,) = env.plan(make_post("old"), due=env.clock.now - timedelta(hours=3))
    env.plan(make_post("recent"), due=env.clock.now - timedelta(hours=1))
    outcomes = env.publisher.publish_due()
    assert {o.delivery.post_id: o.event for o in outcomes} == {
        "old": "missed",
        "recent": "published",
    }
    assert env.ledger.get(old).state is State.MISSED
    assert [e["post"] for e in env.events_named("missed")] == ["old"]


def test_a_claim_is_taken_once(env: Env) -> None:
    (delivery,) = env.plan(make_post("p"))
    assert env.ledger.claim(delivery, token="x", owner="o", now=env.clock.now) is not None
    assert env.ledger.claim(delivery, token="y", owner="o", now=env.clock.now) is None


def test_an_unexpected_error_fails_for_good_after_three_tries_in_one_line_each(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    (delivery,) = env.plan(make_post("p"))
    build = env.publisher.adapters

    def adapters(account: str):
        adapter = build(account)

        def publish(outgoing):
            def deeper(depth: int) -> int:
                return deeper(depth + 1)

            return deeper(0)  # what Mastodon.py's version detection did on Takahē

        adapter.publish = publish  # type: ignore[method-assign]
        return adapter

    env.publisher.adapters = adapters
    events = []
    with caplog.at_level(logging.DEBUG, logger="klapper.publisher"):
        for _ in range(env.config.publishing.retries + 1):
            outcome = env.publisher.publish(delivery)
            if outcome is None:
                break
            events.append(outcome.event)
            env.clock.now = outcome.delivery.retry_at or env.clock.now
    assert events == ["retry", "retry", "failed"]
    row = env.ledger.get(delivery)
    assert row.final and row.reason.startswith("unexpected RecursionError: maximum recursion")
    shown = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(shown) == 3 and not any(r.exc_info or r.exc_text for r in shown)
    assert all("\n" not in r.getMessage() for r in shown)
    # exc_text: a redacting handler (another test's) may have formatted it already
    tracebacks = [r for r in caplog.records if r.exc_info or r.exc_text]
    assert len(tracebacks) == 1 and tracebacks[0].levelno == logging.DEBUG


def test_campaign_tags_go_out_in_every_part_and_stay_the_same_on_a_retry(tmp_path, server) -> None:
    links = Links.model_validate({"utm": {"source": "{account}", "campaign": "{post}-{date}"}})
    config = make_config().model_copy(update={"links": links})
    env = Env(state=tmp_path / "utm", server=server, config=config)
    try:
        due = env.clock.now
        (delivery,) = env.plan(
            make_post(
                "p", text="Sale: https://shop.de/a?x=1#top.", thread=("More: https://shop.de/b",)
            ),
            due=due,
        )
        env.server.platform.fail_next("500")  # the first try may be out: the retry finds it
        env.publisher.publish(delivery)
        env.clock.advance(minutes=5)
        outcome = env.publisher.publish(delivery)
        assert outcome is not None and outcome.ok
        day = due.astimezone(config.tz).date().isoformat()
        assert env.on_server() == [
            f"Sale: https://shop.de/a?x=1&utm_source=a&utm_campaign=p-{day}#top.",
            f"More: https://shop.de/b?utm_source=a&utm_campaign=p-{day}",
        ]
    finally:
        env.close()
