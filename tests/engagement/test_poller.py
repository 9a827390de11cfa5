"""Polling rounds against fake Mastodon and X servers: the schedule, batching, rate limits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from klapper.adapters.mastodon.adapter import MastodonAdapter
from klapper.ledger import Ledger, State
from tests.engagement.helpers import World, bulk_published, config_for
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
        adapter.effective_rules()  # the instance's limits are known: publishing read them
        world = World(
            state=tmp_path / "state",
            config=config_for({"masto": "mastodon"}),
            adapters=lambda name: adapter,
            url=ledger_url,
        )
        server.state.clock = world.clock  # the server's timestamps follow the test's clock
        yield world, server
        world.close()
        adapter.close()


def _status_requests(server: FakeMastodon) -> int:
    return server.state.count("GET", "/api/v1/statuses")


def test_readings_follow_the_decaying_schedule_and_change_between_rounds(masto) -> None:
    world, server = masto
    status = server.state.add_status(text="Our advent sale starts today")
    delivery = world.publish("advent", account="masto", remote_ids=[status["id"]])

    assert world.poller.run_round(inbox=False).readings == []  # nothing is due before 1 h
    world.clock.advance(hours=1)
    status["favourites_count"], status["reblogs_count"] = 3, 1
    first = world.poller.run_round(inbox=False)
    assert [(r.stage, r.likes, r.reposts, r.views) for r in first.readings] == [
        (3600, 3, 1, None)
    ]  # Mastodon counts no views: absent, not 0

    assert world.poller.run_round(inbox=False).readings == []  # the 1 h reading is taken
    world.clock.advance(hours=5)
    status["favourites_count"] = 8
    second = world.poller.run_round(inbox=False)
    assert [(r.stage, r.likes) for r in second.readings] == [(6 * 3600, 8)]

    # Down for three days: one reading answers the 1 d and 3 d stages together.
    world.clock.advance(days=3)
    third = world.poller.run_round(inbox=False)
    assert [r.stage for r in third.readings] == [3 * 86400]
    world.clock.advance(days=40)
    assert [r.stage for r in world.poller.run_round(inbox=False).readings] == [30 * 86400]
    world.clock.advance(days=40)
    assert world.poller.run_round(inbox=False).readings == []  # after the last stage: stop
    assert world.poller.next_round() is not None  # the inbox still has its turns

    events = world.engagement_events()
    assert [e["stage"] for e in events] == ["1h", "6h", "3d", "30d"]
    assert events[0]["delivery"] == delivery.id and events[0]["likes"] == 3
    assert "views" not in events[0]  # absent in the log too
    stored = world.store.readings()
    assert len(stored) == 4 and all(r.views is None for r in stored)


def test_thread_follow_ups_are_read_in_the_same_batch(masto) -> None:
    world, server = masto
    ids = [server.state.add_status(text=f"part {n}")["id"] for n in range(3)]
    world.publish("thread", account="masto", remote_ids=ids, ago=timedelta(hours=2))
    before = _status_requests(server)
    report = world.poller.run_round(inbox=False)
    assert sorted(r.part for r in report.readings) == [0, 1, 2]
    assert _status_requests(server) - before == 1 and report.requests == 1


def test_a_deleted_post_is_recorded_as_not_found_and_the_schedule_moves_on(masto) -> None:
    world, server = masto
    kept = server.state.add_status(text="kept")["id"]
    world.publish("kept", account="masto", remote_ids=[kept], ago=timedelta(hours=1))
    world.publish("gone", account="masto", remote_ids=["999999"], ago=timedelta(hours=1))
    report = world.poller.run_round(inbox=False)
    found = {r.remote_id: (r.found, r.likes) for r in report.readings}
    assert found == {kept: (True, 0), "999999": (False, None)}
    assert world.poller.run_round(inbox=False).readings == []


def test_budget_spreads_a_large_backlog_over_rounds(masto, tmp_path: Path) -> None:
    world, server = masto
    world.config = world.poller.config = config_for({"masto": "mastodon"}, budget=2, min_gap="5m")
    hour_ago = world.clock.now - timedelta(hours=1)
    bulk_published(
        world.ledger,
        [
            (
                f"p{n}",
                "masto",
                "mastodon",
                server.state.add_status(text=f"post {n}")["id"],
                hour_ago,
            )
            for n in range(50)
        ],
    )
    first = world.poller.run_round(inbox=False)
    assert (len(first.readings), first.requests, first.left) == (40, 2, 10)
    # The rest waits for the next round, which comes no sooner than min_gap.
    assert world.poller.next_round(last_round=world.clock.now) == world.clock.now + timedelta(
        minutes=5
    )
    second = world.poller.run_round(inbox=False)
    assert (len(second.readings), second.requests, second.left) == (10, 1, 0)


def test_rate_limit_stops_polling_that_account_until_the_reset_only(masto) -> None:
    world, server = masto
    status = server.state.add_status(text="popular")
    delivery = world.publish(
        "popular", account="masto", remote_ids=[status["id"]], ago=timedelta(hours=1)
    )
    server.state.fail_next("rate_limit", method="GET", path="/api/v1/statuses")
    report = world.poller.run_round(inbox=False)
    assert report.readings == [] and report.left == 1
    until = report.waiting["masto"]
    assert timedelta(seconds=0) < until - datetime.now(UTC) < timedelta(seconds=30)
    # The publisher's state is untouched: the account may still publish.
    assert world.ledger.accounts().get("masto") is None
    assert world.ledger.get(delivery.id).state is State.PUBLISHED
    before = _status_requests(server)
    assert world.poller.run_round(inbox=False).readings == []  # still waiting: no request
    assert _status_requests(server) == before
    assert world.poller.next_round() == until
    world.clock.now = until
    assert len(world.poller.run_round(inbox=False).readings) == 1


def test_accounts_the_publisher_paused_or_holds_are_not_polled(masto) -> None:
    world, server = masto
    status = server.state.add_status(text="quiet")
    world.publish("quiet", account="masto", remote_ids=[status["id"]], ago=timedelta(hours=1))
    world.ledger.set_account(
        "masto", now=world.clock.now, paused_at=world.clock.now, pause_reason="token revoked"
    )
    before = _status_requests(server)
    report = world.poller.run_round()
    assert report.readings == [] and report.left == 1 and _status_requests(server) == before
    assert world.poller.next_round() is None  # nothing until the account is resumed


def test_x_1000_posts_take_ten_requests(tmp_path: Path) -> None:
    with adapter_case(tmp_path) as case:
        world = World(
            state=tmp_path / "state",
            config=config_for({"x": "x"}),
            adapters=lambda name: case.adapter,
        )
        ids = [
            case.fake.add_tweet(
                author_id=ME_ID,
                text=f"post {n}",
                metrics={"like_count": n % 7, "impression_count": 10 * n},
            )
            for n in range(1000)
        ]
        bulk_published(
            world.ledger,
            [
                (f"p{n}", "x", "x", tweet, world.clock.now - timedelta(hours=2))
                for n, tweet in enumerate(ids)
            ],
        )
        before = case.fake.count("lookup")
        report = world.poller.run_round(inbox=False)
        assert case.fake.count("lookup") - before == 10 == report.requests
        assert len(report.readings) == 1000
        by_id = {r.remote_id: r for r in report.readings}
        assert (by_id[ids[8]].likes, by_id[ids[8]].views) == (1, 80)
        world.close()


def _cold_mastodon(server: FakeMastodon, tmp_path: Path) -> MastodonAdapter:
    """A fresh process's adapter: what it knows of the instance is in the state folder only."""
    return MastodonAdapter(
        name="masto",
        settings={"instance": server.url, "cache_dir": str(tmp_path / "state")},
        secrets={"access_token": server.state.token},
        repo=tmp_path,
    )


@pytest.mark.parametrize(
    ("flavor", "published", "first", "batch_tries"),
    [
        ("takahe", True, (10, 10, 10, 5), 0),  # its version (read when publishing) says so
        ("takahe", False, (10, 10, 9, 6), 1),  # nothing known yet: one 405 teaches it
        ("mastodon", True, (10, 10, 9, 6), 1),  # says 4.3.2 yet answers the lookup 405
    ],
)
def test_without_the_batch_lookup_every_request_counts_within_the_budget(
    tmp_path: Path, flavor: str, published: bool, first: tuple[int, ...], batch_tries: int
) -> None:
    with FakeMastodon(flavor=flavor, batch_lookup=False) as server:
        if published:
            _cold_mastodon(server, tmp_path).effective_rules()  # what publishing reads
        adapters: list[MastodonAdapter] = []

        def adapter(name: str) -> MastodonAdapter:
            adapters.append(_cold_mastodon(server, tmp_path))
            return adapters[-1]

        world = World(
            state=tmp_path / "state", config=config_for({"masto": "mastodon"}), adapters=adapter
        )
        server.state.clock = world.clock
        bulk_published(
            world.ledger,
            [
                (
                    f"p{n}",
                    "masto",
                    "mastodon",
                    server.state.add_status(text=f"post {n}")["id"],
                    world.clock.now - timedelta(hours=1),
                )
                for n in range(15)
            ],
        )
        try:
            rounds = []
            for _ in range(2):
                seen = len(server.state.requests)
                report = world.poller.run_round(inbox=False)
                rounds.append(
                    (
                        report.requests,
                        len(server.state.requests) - seen,
                        len(report.readings),
                        report.left,
                    )
                )
                adapters[-1].close()
            # (requests counted, requests made, readings, left); round two is a new process
            # that remembers what round one learnt.
            left = first[3]
            assert rounds == [first, (left, left, left, 0)]
            assert _status_requests(server) == batch_tries
        finally:
            world.close()


def test_one_round_per_account_at_a_time_on_a_shared_ledger(masto, tmp_path: Path) -> None:
    world, server = masto
    status = server.state.add_status(text="Our advent sale starts today")
    world.publish("advent", account="masto", remote_ids=[status["id"]])
    world.clock.advance(hours=1)
    other = Ledger.open(state=tmp_path / "other", url=world.url)  # another daemon's
    with other.try_lock("engagement:masto") as theirs:
        assert theirs
        meanwhile = world.poller.run_round(inbox=False)
    other.close()
    if world.ledger.shared:
        assert meanwhile.readings == [] and meanwhile.left == 1
        assert meanwhile.why["masto"] == "another klapper is reading this account right now"
        assert [r.stage for r in world.poller.run_round(inbox=False).readings] == [3600]
    else:  # one SQLite ledger serves one repository on one machine: no one to wait for
        assert [r.stage for r in meanwhile.readings] == [3600]
