"""Visits rounds: the reactions' schedule, one range of days for many posts, the budget,
the ledger's visits table, `visits` events, and faults that leave reactions alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from klapper.config.model import Config
from klapper.engagement.attribution import TagsOf
from klapper.engagement.visits import Visits
from klapper.engagement.visits_store import VisitsStore
from klapper.ledger import read_events
from klapper.queue.campaign import SentTags
from klapper.queue.model import Override, Post, Source
from tests.engagement.helpers import World
from tests.fakes.matomo import SITE_ID, TOKEN, fake_matomo
from tests.fakes.plausible import KEY, SITE, fake_plausible
from tests.fakes.site_visits import SiteState, Visit


def analytics_config(tool: dict[str, Any], **analytics: Any) -> Config:
    return Config.model_validate(
        {
            "timezone": "Europe/Berlin",
            "accounts": {
                "masto": {"platform": "mastodon", "instance": "https://m.example"},
                "bsky": {"platform": "bluesky"},
            },
            "links": {"utm": {"source": "{platform}", "medium": "social", "campaign": "{post}"}},
            "analytics": {**tool, **analytics},
        }
    )


class VisitsWorld(World):
    def visits(self, token: str, *, tags: TagsOf | None = None) -> Visits:
        return Visits(
            ledger=self.ledger,
            events=self.events,
            config=self.config,
            clock=self.clock,
            environ={"KLAPPER_ANALYTICS_TOKEN": token, "KLAPPER_SECRETS": str(self.state / "none")},
            tags=tags,
        )

    def visits_events(self) -> list[dict[str, Any]]:
        return [e for e in read_events(self.events.path) if e["event"] == "visits"]


@pytest.fixture
def matomo(tmp_path: Path, ledger_url: str | None) -> Iterator[tuple[VisitsWorld, SiteState]]:
    with fake_matomo() as (base, state):
        config = analytics_config({"matomo": {"url": base, "site_id": SITE_ID}})
        world = VisitsWorld(
            state=tmp_path / "state", config=config, adapters=_no_adapters, url=ledger_url
        )
        yield world, state
        world.close()


def _no_adapters(name: str) -> Any:
    raise AssertionError(f"no platform is asked in a visits round ({name})")


def test_visits_follow_the_schedule_and_land_in_the_ledger_and_the_event_log(matomo) -> None:
    world, site = matomo
    delivery = world.publish("advent", account="masto", remote_ids=["1"])
    world.publish("advent", account="bsky", remote_ids=["at://b/1"])
    visits = world.visits(TOKEN)
    day = world.clock.now.astimezone(world.config.tz).date()

    assert visits.run_round().requests == 0  # nothing due before 1 h: nothing asked
    assert site.asked == []
    world.clock.advance(hours=1)
    site.add(
        [
            Visit("advent", "mastodon", day, "a", goals=("booking",)),
            Visit("advent", "mastodon", day, "b"),
        ]
    )
    first = visits.run_round()
    assert (first.readings, first.requests, first.rows, first.left) == (2, 1, 1, 0)
    (event,) = world.visits_events()
    assert {k: event[k] for k in ("delivery", "account", "platform", "campaign", "source")} == {
        "delivery": delivery.id,
        "account": "masto",
        "platform": "mastodon",
        "campaign": "advent",
        "source": "mastodon",
    }
    assert (event["visits"], event["visitors"], event["goals"], event["day"]) == (
        2,
        2,
        1,
        day.isoformat(),
    )
    assert visits.run_round().requests == 0  # the 1 h stage is read

    world.clock.advance(hours=5)
    site.add([Visit("advent", "bluesky", day, "c")])
    second = visits.run_round()
    assert (second.readings, second.requests, second.rows) == (2, 1, 1)  # only the new row
    assert [e["source"] for e in world.visits_events()] == ["mastodon", "bluesky"]
    stored = VisitsStore(world.ledger).rows()
    assert [(r.tool, r.row.source, r.row.visits) for r in stored] == [
        ("matomo", "bluesky", 1),
        ("matomo", "mastodon", 2),
    ]
    nxt = visits.next_due()
    assert nxt is not None and nxt - world.clock.now > timedelta(hours=17)


def test_a_posts_own_campaign_tags_match_its_visits_to_its_deliveries(matomo) -> None:
    world, site = matomo
    post = Post(
        id="sale",
        source=Source("posts/sale.md"),
        text="Spring sale: https://shop.example/sale",
        to=("masto", "bsky"),
        utm={"campaign": "Spring-Sale"},  # the post's own campaign, not its id
        per={"bluesky": Override(utm={"campaign": "sale-bsky", "source": "bsky-social"})},
    )
    masto = world.publish("sale", account="masto", remote_ids=["1"], ago=timedelta(hours=2))
    bsky = world.publish("sale", account="bsky", remote_ids=["b"], ago=timedelta(hours=2))
    day = world.clock.now.astimezone(world.config.tz).date()
    site.add(
        [
            Visit("Spring-Sale", "mastodon", day, "a", goals=("booking",)),
            Visit("sale-bsky", "bsky-social", day, "b"),
            Visit("sale-bsky", "bsky-social", day, "c"),
        ]
    )
    tags = SentTags(config=world.config, posts={post.id: post})
    report = world.visits(TOKEN, tags=tags).run_round()
    assert (report.readings, report.rows) == (2, 2)
    matched = {(e["campaign"], e["delivery"], e["visits"]) for e in world.visits_events()}
    assert matched == {("spring-sale", masto.id, 1), ("sale-bsky", bsky.id, 2)}
    # the segment asked for carries the per: entry's source, as the links do
    (asked,) = site.asked
    assert any("bsky-social" in str(v) for k, v in asked.items() if k.startswith("urls["))


def test_one_request_reads_many_posts_of_many_days(matomo) -> None:
    world, site = matomo
    for n in range(40):
        world.publish(
            f"p{n}",
            account="masto" if n % 2 else "bsky",
            remote_ids=[str(n)],
            ago=timedelta(hours=2 + 12 * n),
        )
    report = world.visits(TOKEN).run_round()
    assert report.readings == 40 and report.requests == 1  # one range, both sources in it
    (asked,) = site.asked
    assert {k for k in asked if k.startswith("urls[")} == {"urls[0]", "urls[1]"}


def test_a_fault_is_one_line_waits_and_is_not_a_reading(matomo, caplog) -> None:
    world, site = matomo
    world.publish("advent", account="masto", remote_ids=["1"], ago=timedelta(hours=2))
    visits = world.visits(TOKEN)
    site.faults.append((200, {"result": "error", "message": "Archiving is running"}))
    failed = visits.run_round()
    assert failed.error is not None and failed.error.endswith("says: Archiving is running")
    assert (failed.readings, failed.left, failed.requests) == (0, 1, 1)
    assert visits.run_round().requests == 0  # left alone for a while
    world.clock.advance(minutes=31)
    assert visits.run_round().readings == 1
    assert [r.message for r in caplog.records if r.name == "klapper.engagement"] == [
        f"visits: matomo at {site_host(world)} says: Archiving is running; trying again after "
        f"{(world.clock.now - timedelta(minutes=31) + timedelta(minutes=30)).isoformat()}"
    ]


def site_host(world: World) -> str:
    assert world.config.analytics is not None and world.config.analytics.matomo is not None
    return world.config.analytics.matomo.url.split("//")[1]


def test_without_a_token_nothing_is_asked_and_the_message_names_the_secret(matomo) -> None:
    world, site = matomo
    world.publish("advent", account="masto", remote_ids=["1"], ago=timedelta(hours=2))
    report = world.visits("").run_round()
    assert report.error == (
        "no analytics token: store it as the secret analytics › token "
        "(KLAPPER_ANALYTICS_TOKEN; see docs/analytics.md)"
    )
    assert site.asked == []


def test_plausible_within_the_budget_reads_again_next_round(tmp_path: Path) -> None:
    with fake_plausible() as (base, site):
        config = analytics_config({"plausible": {"url": base, "site_id": SITE}}, budget=1)
        world = VisitsWorld(state=tmp_path / "state", config=config, adapters=_no_adapters)
        try:
            world.publish("advent", account="bsky", remote_ids=["1"], ago=timedelta(hours=2))
            day = world.clock.now.astimezone(world.config.tz).date()
            site.add([Visit("advent", "bluesky", day, "a", goals=("shop",))])
            short = world.visits(KEY).run_round()
            assert (short.readings, short.left, short.requests, short.rows) == (0, 1, 1, 0)
            assert short.why is not None and "budget of 1 requests" in short.why
            assert world.visits_events() == []  # half an answer is not stored
            world.config = world.config.model_copy(
                update={"analytics": world.config.analytics.model_copy(update={"budget": 2})}  # type: ignore[union-attr]
            )
            visits = world.visits(KEY)
            done = visits.run_round()
            assert (done.readings, done.requests, done.rows) == (1, 2, 1)
            (event,) = world.visits_events()
            assert (event["tool"], event["visits"], event["goals"], event["account"]) == (
                "plausible",
                1,
                1,
                "bsky",
            )
        finally:
            world.close()
