"""Bluesky engagement against real servers: a second account likes and replies; klapper reads both.

Counts and notifications are AppView reads. On the PDS without an AppView the reading records
every figure as absent (never 0) and the inbox stays empty. On the network with Bluesky's own
AppView (tests/fakes/bluesky_appview.py), the poller, and `klapper refresh` and `klapper inbox`,
read what the AppView indexed from the second account's like, repost and reply, and the reply
lands in the inbox.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from klapper.adapters.base import Outgoing, Published
from klapper.cli import app
from klapper.ledger import Delivery, Ledger, read_events
from tests.engagement.helpers import World, config_for, record_published
from tests.fakes.bluesky import LocalPds, adapter_case, shared_pds, stamp
from tests.fakes.bluesky_appview import shared_appview

pytestmark = pytest.mark.pds


@contextlib.contextmanager
def published(tmp_path: Path, pds: LocalPds) -> Iterator[tuple[World, Published, Delivery]]:
    """A post really published on ``pds`` an hour ago (by the clock), in a fresh World."""
    with adapter_case(tmp_path, pds=pds) as case:
        world = World(
            state=tmp_path / "state",
            config=config_for({"bsky": "bluesky"}),
            adapters=lambda name: case.adapter,
        )
        ours = case.adapter.publish(
            Outgoing(
                text="Neue Töpferkurse ab März",
                idempotency_key="kurs|bsky#0",
                due=datetime.now(UTC),
            )
        )
        delivery = world.publish(
            "kurs", account="bsky", remote_ids=[ours.remote_id], ago=timedelta(hours=1)
        )
        try:
            yield world, ours, delivery
        finally:
            world.close()


def test_without_an_appview_the_reading_is_unknown(tmp_path: Path) -> None:
    with published(tmp_path, shared_pds()) as (world, _, _):
        first = world.poller.run_round()
        [reading] = first.readings
        assert reading.stage == 3600 and reading.found
        assert (reading.likes, reading.replies, reading.reposts) == (None, None, None)
        assert first.new_items == []


def test_a_like_and_a_reply_from_another_account(tmp_path: Path) -> None:
    pds = shared_appview()
    with published(tmp_path, pds) as (world, ours, delivery):
        pds.sync()
        first = world.poller.run_round()
        [reading] = first.readings  # indexed, nobody reacted yet: real zeros
        assert (reading.stage, reading.likes, reading.replies, reading.reposts) == (3600, 0, 0, 0)
        assert first.new_items == []

        friend = pds.create_account()
        subject = {"uri": ours.remote_id, "cid": ours.ref["cid"]}
        pds.react_as(friend, "like", subject)
        reply = pds.post_as(
            friend,
            {
                "$type": "app.bsky.feed.post",
                "text": "Gibt es auch Abendkurse?",
                "createdAt": stamp(datetime.now(UTC)),
                "reply": {"root": subject, "parent": subject},
            },
        )
        pds.sync()

        world.clock.advance(hours=5)
        second = world.poller.run_round()
        [reading] = second.readings
        assert (reading.stage, reading.likes, reading.replies) == (6 * 3600, 1, 1)
        [item] = world.store.inbox_items(open_only=True)
        assert (item.kind, item.author, item.remote_id) == ("reply", friend.handle, reply["uri"])
        assert (item.delivery_id, item.attention) == (delivery.id, "question")
        assert item.url and item.url.startswith(f"https://bsky.app/profile/{friend.did}/post/")
        assert [e["likes"] for e in world.engagement_events() if "likes" in e] == [0, 1]


def test_klapper_refresh_and_inbox_read_the_appview(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pds = shared_appview()
    account, friend = pds.create_account(), pds.create_account()
    repo, state = tmp_path / "repo", tmp_path / "state"
    (repo / "posts").mkdir(parents=True)
    (repo / "klapper.yaml").write_text(
        yaml.safe_dump(
            {
                "timezone": "Europe/Berlin",
                "accounts": {
                    "bsky": {"platform": "bluesky", "handle": account.handle, "service": pds.url}
                },
            }
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("KLAPPER_SECRETS", str(tmp_path / "secrets.yaml"))
    monkeypatch.setenv("KLAPPER_BSKY_APP_PASSWORD", account.app_password)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    ours = pds.post_as(
        account,
        {
            "$type": "app.bsky.feed.post",
            "text": "Adventsmarkt am Samstag",
            "createdAt": stamp(datetime.now(UTC)),
        },
    )
    ledger = Ledger.open(state=state)
    record_published(
        ledger,
        post_id="advent",
        account="bsky",
        platform="bluesky",
        remote_ids=[ours["uri"]],
        published_at=datetime.now(UTC) - timedelta(hours=2),
    )
    ledger.close()
    subject = {"uri": ours["uri"], "cid": ours["cid"]}
    pds.react_as(friend, "like", subject)
    pds.react_as(friend, "repost", subject)
    reply = pds.post_as(
        friend,
        {
            "$type": "app.bsky.feed.post",
            "text": "Bis wann geht er?",
            "createdAt": stamp(datetime.now(UTC)),
            "reply": {"root": subject, "parent": subject},
        },
    )
    pds.sync()
    where = ["--repo", str(repo), "--state", str(state)]

    refreshed = CliRunner().invoke(app, ["refresh", *where], catch_exceptions=False)
    assert refreshed.exit_code == 0, refreshed.output
    assert "1 readings from 1 account(s) in 1 request(s); 1 new in the inbox" in refreshed.stdout
    [event] = [e for e in read_events(state / "events.jsonl") if e["event"] == "engagement"]
    assert (event["likes"], event["reposts"], event["replies"]) == (1, 1, 1)
    listed = CliRunner().invoke(app, ["inbox", "--format", "json", *where], catch_exceptions=False)
    [item] = json.loads(listed.stdout)
    assert (item["author"], item["kind"], item["attention"]) == (friend.handle, "reply", "question")
    assert (
        item["url"]
        == f"https://bsky.app/profile/{friend.did}/post/{reply['uri'].rsplit('/', 1)[1]}"
    )


def test_after_another_handle_the_shops_post_lands_on_the_shops_repository_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10's proof: account `bsky` first on another handle, then on the shop's (with its app
    password): the kept session of the first is not used for the shop, and a like and a reply
    to the shop's post show in `klapper refresh --now`."""
    pds = shared_appview()
    first, shop, friend = pds.create_account(), pds.create_account(), pds.create_account()
    repo, state = tmp_path / "repo", tmp_path / "state"
    (repo / "posts").mkdir(parents=True)
    secrets = tmp_path / "secrets.yaml"
    monkeypatch.setenv("KLAPPER_SECRETS", str(secrets))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    where = ["--repo", str(repo), "--state", str(state)]

    def publish_as(who, post: str, text: str) -> None:
        (repo / "klapper.yaml").write_text(
            yaml.safe_dump(
                {
                    "timezone": "UTC",
                    "accounts": {
                        "bsky": {"platform": "bluesky", "handle": who.handle, "service": pds.url}
                    },
                }
            ),
            encoding="utf-8",
        )
        monkeypatch.setenv("KLAPPER_BSKY_APP_PASSWORD", who.app_password)
        due = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
        (repo / "posts" / f"{post}.yaml").write_text(
            yaml.safe_dump({"text": text, "at": due, "to": ["bsky"]}), encoding="utf-8"
        )
        done = CliRunner().invoke(app, ["publish", "--due", *where], catch_exceptions=False)
        assert done.exit_code == 0 and "1 published" in done.output, done.output

    publish_as(first, "before", "Vom alten Konto")
    assert "did: " + first.did in secrets.read_text()  # the session kept, with whose it is
    publish_as(shop, "shop", "Töpferkurs am Samstag")
    assert [r["value"]["text"] for r in pds.records(first.did)] == ["Vom alten Konto"]
    [ours] = pds.records(shop.did)
    assert ours["value"]["text"] == "Töpferkurs am Samstag"
    assert "did: " + shop.did in secrets.read_text()  # the shop's session replaced the other

    subject = {"uri": ours["uri"], "cid": ours["cid"]}
    pds.react_as(friend, "like", subject)
    pds.post_as(
        friend,
        {
            "$type": "app.bsky.feed.post",
            "text": "Sind noch Plätze frei?",
            "createdAt": stamp(datetime.now(UTC)),
            "reply": {"root": subject, "parent": subject},
        },
    )
    pds.sync()
    refreshed = CliRunner().invoke(app, ["refresh", "--now", *where], catch_exceptions=False)
    assert refreshed.exit_code == 0, refreshed.output
    [event] = [
        e
        for e in read_events(state / "events.jsonl")
        if e["event"] == "engagement" and e.get("remote_id") == ours["uri"]
    ]
    assert (event["likes"], event["replies"]) == (1, 1)
    # The AppView may list the notification a moment after it counted the reply; klapper's
    # next round (which looks back OVERLAP) takes it then, as the loop's later refreshes do.
    for _ in range(10):
        listed = CliRunner().invoke(app, ["inbox", "--format", "json", *where])
        if json.loads(listed.stdout):
            break
        time.sleep(0.5)
        pds.sync()
        CliRunner().invoke(app, ["refresh", "--now", *where], catch_exceptions=False)
    [item] = json.loads(listed.stdout)
    assert (item["author"], item["kind"]) == (friend.handle, "reply")
