"""The Bluesky adapter's reactions and replies, read through the PDS from Bluesky's real AppView.

The network of tests/fakes/bluesky_appview.py (skipped without Node, PostgreSQL or Redis): other
accounts like, repost, quote and answer our posts on the PDS, the AppView indexes them
(``sync``), and the adapter reads them as on bsky.social: app.bsky.* calls to its own PDS, which
proxies them to the AppView.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from klapper.adapters.base import Outgoing
from tests.fakes.bluesky import adapter_case, stamp
from tests.fakes.bluesky_appview import shared_appview

pytestmark = pytest.mark.pds
GET_POSTS = "/xrpc/app.bsky.feed.getPosts"


@pytest.fixture(scope="module")
def pds():
    return shared_appview()


@pytest.fixture
def case(tmp_path, pds):
    with adapter_case(tmp_path, pds=pds) as made:
        yield made


def out(text: str, key: str) -> Outgoing:
    return Outgoing(text=text, idempotency_key=key, due=datetime.now(UTC))


def test_metrics_are_the_appviews_counts_25_posts_per_request(case, pds):
    published = [case.adapter.publish(out(f"post {i}", f"count#{i}")) for i in range(3)]
    liked = {"uri": published[1].remote_id, "cid": published[1].ref["cid"]}
    friend, other = pds.create_account(), pds.create_account()
    for who in (friend, other):
        pds.react_as(who, "like", liked)
    pds.react_as(friend, "repost", liked)
    now = stamp(datetime.now(UTC))
    pds.post_as(
        friend,
        {
            "$type": "app.bsky.feed.post",
            "text": "So schön!",
            "createdAt": now,
            "reply": {"root": liked, "parent": liked},
        },
    )
    pds.post_as(
        other,
        {
            "$type": "app.bsky.feed.post",
            "text": "Seht euch das an",
            "createdAt": now,
            "embed": {"$type": "app.bsky.embed.record", "record": liked},
        },
    )
    pds.sync()
    gone = f"{published[0].remote_id[:-3]}zzz"  # never published: left out by the AppView
    uris = [p.remote_id for p in published] * 10 + [gone]  # 31 ids: two requests
    before = case.proxy.seen.count(GET_POSTS)
    readings = case.adapter.metrics(uris)
    assert case.proxy.seen.count(GET_POSTS) - before == 2
    assert [m.remote_id for m in readings] == uris
    counted = readings[1]
    assert (counted.likes, counted.reposts, counted.replies, counted.quotes) == (2, 1, 1, 1)
    assert counted.views is None  # Bluesky counts no views
    assert (readings[0].likes, readings[0].replies) == (0, 0)  # indexed, nobody reacted: 0
    assert readings[-1].likes is None  # absent is unknown, never 0


def test_interactions_are_replies_to_our_posts_and_mentions_since_then(case, pds):
    friend = pds.create_account()
    ours = case.adapter.publish(out("Ask me anything", "ama#0"))
    other = case.adapter.publish(out("not from klapper", "other#0"))
    ref = {"uri": ours.remote_id, "cid": ours.ref["cid"]}
    elsewhere = {"uri": other.remote_id, "cid": other.ref["cid"]}
    now = datetime.now(UTC)

    def post(text: str, at: datetime, **extra) -> dict:
        return pds.post_as(
            friend, {"$type": "app.bsky.feed.post", "text": text, "createdAt": stamp(at), **extra}
        )

    post("an old answer", now - timedelta(days=2), reply={"root": ref, "parent": ref})
    reply = post("A question!", now - timedelta(minutes=1), reply={"root": ref, "parent": ref})
    post("to the other post", now, reply={"root": elsewhere, "parent": elsewhere})
    greeting = f"hello @{case.account.handle}"
    post(
        greeting,
        now,
        facets=[
            {
                "index": {"byteStart": len(b"hello "), "byteEnd": len(greeting.encode())},
                "features": [{"$type": "app.bsky.richtext.facet#mention", "did": case.account.did}],
            }
        ],
    )
    pds.sync()
    found = case.adapter.interactions(since=now - timedelta(hours=1), own_ids=[ours.remote_id])
    assert [(i.kind, i.text, i.author) for i in found] == [
        ("reply", "A question!", friend.handle),
        ("mention", greeting, friend.handle),
    ]
    assert found[0].in_reply_to == ours.remote_id and found[1].in_reply_to is None
    assert found[0].remote_id == reply["uri"] and not found[0].by_self
    assert found[0].url.startswith(f"https://bsky.app/profile/{friend.did}/post/")
