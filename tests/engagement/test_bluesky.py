"""Bluesky against the real local PDS: a second account likes and replies; klapper reads both.

The PDS has no AppView, and counts and notifications are AppView reads. Without one, the
reading records every figure as absent (never 0) and the inbox stays empty. With the stand-in
AppView of tests/fakes/bluesky_appview.py in front, the counts are what the PDS really holds:
this test indexes the second account's like and reply records from the PDS's repo listing
(com.atproto.repo.listRecords), as an AppView would, and lists the reply as a notification.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from klapper.adapters.base import Outgoing
from tests.engagement.helpers import World, config_for
from tests.fakes.bluesky import Account, LocalPds, adapter_case, shared_pds
from tests.fakes.bluesky_appview import AppView

pytestmark = pytest.mark.pds


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _like(pds: LocalPds, account: Account, subject: dict[str, str]) -> dict[str, Any]:
    made = pds.http.post(
        "/com.atproto.repo.createRecord",
        json={"repo": account.did, "collection": "app.bsky.feed.like",
              "record": {"$type": "app.bsky.feed.like", "subject": subject,
                         "createdAt": _stamp(datetime.now(UTC))}},
        headers={"Authorization": f"Bearer {pds.session(account)['accessJwt']}"})
    made.raise_for_status()
    return made.json()


def _listed(pds: LocalPds, did: str, collection: str) -> list[dict[str, Any]]:
    return pds.http.get("/com.atproto.repo.listRecords",
                        params={"repo": did, "collection": collection, "limit": 100}
                        ).json()["records"]


def _index(pds: LocalPds, appview: AppView, *, uri: str, dids: list[str]) -> None:
    """Count likes and replies of ``uri`` from the repos of ``dids``, as an AppView would."""
    likes = sum(r["value"]["subject"]["uri"] == uri
                for did in dids for r in _listed(pds, did, "app.bsky.feed.like"))
    replies = sum((r["value"].get("reply") or {}).get("parent", {}).get("uri") == uri
                  for did in dids for r in _listed(pds, did, "app.bsky.feed.post"))
    appview.counts[uri] = {"likes": likes, "replies": replies, "reposts": 0, "quotes": 0}


def test_a_like_and_a_reply_from_another_account(tmp_path: Path) -> None:
    pds = shared_pds()
    with adapter_case(tmp_path) as case:
        world = World(state=tmp_path / "state", config=config_for({"bsky": "bluesky"}),
                      adapters=lambda name: case.adapter)
        ours = case.adapter.publish(Outgoing(text="Neue Töpferkurse ab März",
                                             idempotency_key="kurs|bsky#0",
                                             due=datetime.now(UTC)))
        delivery = world.publish("kurs", account="bsky", remote_ids=[ours.remote_id],
                                 ago=timedelta(hours=1))
        friend = pds.create_account()
        subject = {"uri": ours.remote_id, "cid": ours.ref["cid"]}

        # No AppView: the 1 h reading knows nothing, and says so (absent, not 0).
        first = world.poller.run_round()
        [reading] = first.readings
        assert reading.stage == 3600 and reading.found
        assert (reading.likes, reading.replies, reading.reposts) == (None, None, None)
        assert first.new_items == []

        _like(pds, friend, subject)
        reply = pds.post_as(friend, {
            "$type": "app.bsky.feed.post", "text": "Gibt es auch Abendkurse?",
            "createdAt": _stamp(datetime.now(UTC)), "reply": {"root": subject,
                                                             "parent": subject}})
        appview = case.proxy.serve_appview(handles={case.account.did: case.account.handle,
                                                    friend.did: friend.handle})
        _index(pds, appview, uri=ours.remote_id, dids=[friend.did, case.account.did])
        appview.notify(reason="reply", made=reply, author_did=friend.did)

        world.clock.advance(hours=5)
        second = world.poller.run_round()
        [reading] = second.readings
        assert (reading.stage, reading.likes, reading.replies) == (6 * 3600, 1, 1)
        [item] = world.store.inbox_items(open_only=True)
        assert (item.kind, item.author, item.remote_id) == ("reply", friend.handle, reply["uri"])
        assert (item.delivery_id, item.attention) == (delivery.id, "question")
        assert item.url and item.url.startswith("https://bsky.app/profile/")
        assert [e["likes"] for e in world.engagement_events() if "likes" in e] == [1]
        world.close()
