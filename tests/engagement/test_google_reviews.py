"""Google reviews in the inbox through the poller: stars, attention, the owner's reply."""

from __future__ import annotations

from pathlib import Path

from tests.engagement.helpers import World, config_for
from tests.fakes.google_business import LOCATION, FakeGoogleBusiness, make_adapter
from tests.fakes.linkedin import insecure_transport_allowed


def test_reviews_are_kept_low_ones_marked_and_an_owners_reply_settles_one(tmp_path: Path):
    with insecure_transport_allowed(), FakeGoogleBusiness().serve() as fake:
        adapter = make_adapter(fake, tmp_path)
        world = World(
            state=tmp_path / "state",
            config=config_for({"bakery": {"platform": "google-business", "location": LOCATION}}),
            adapters=lambda name: adapter,
        )
        try:
            start = world.clock.now.timestamp()
            low = fake.add_review(3, "The rolls were fine, the queue was long", created=start - 600)
            high = fake.add_review(5, "Do you bake on Sundays?", by="Mia", created=start - 300)
            praise = fake.add_review(5, "Wonderful", created=start - 200)

            report = world.poller.run_round()
            kept = {i.remote_id: i for i in report.new_items}
            assert set(kept) == {low, high, praise}
            assert (kept[low].kind, kept[low].attention) == ("review", "complaint")
            assert (kept[high].author, kept[high].attention) == ("Mia", "question")
            assert kept[praise].attention is None

            world.clock.advance(minutes=30)
            fake.answer_review(
                low,
                "Sorry for the wait, we now open a second till",
                at=world.clock.now.timestamp() - 60,
            )
            assert world.poller.run_round().new_items == []  # our answer is no new item
            still = {i.remote_id for i in world.store.inbox_items(open_only=True)}
            assert still == {high, praise}
        finally:
            world.close()
            adapter.close()
