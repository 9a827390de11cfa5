"""Changes in the content repository: cancel, restore, edit, rename, slots kept, broken files."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from klapper.ledger import EventLog, Ledger, PartRecord, State, read_events
from klapper.scheduler.sync import RepositoryBroken, SyncReport, sync
from tests.scheduler.repo import TempRepo

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday
EVERY_DAY = {day: ["09:00", "15:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


class World:
    def __init__(self, root: Path) -> None:
        self.repo = TempRepo(root / "repo")
        self.repo.configure(slots=EVERY_DAY)
        self.ledger = Ledger.open(state=root / "state")
        self.events = EventLog(root / "state" / "events.jsonl")
        self.now = NOW

    def sync(self) -> SyncReport:
        return sync(
            ledger=self.ledger, events=self.events, repository=self.repo.load(), now=self.now
        )

    def rows(self, post: str) -> list:
        return self.ledger.for_post(f"posts/{post}.yaml")

    def state(self, post: str) -> State:
        (row,) = self.rows(post)
        return row.state

    def publish(self, post: str) -> None:
        """Mark the delivery published, as the publisher would."""
        (row,) = self.rows(post)
        claimed = self.ledger.claim(row.id, token="t", owner="o", now=row.due)
        self.ledger.record_part(
            PartRecord(
                delivery_id=row.id, part=0, remote_id="r1", url=None, published_at=row.due, ref={}
            ),
            token="t",
            now=row.due,
        )
        self.ledger.update(
            claimed.id,
            now=row.due,
            expect=[State.CLAIMED],
            state=State.PUBLISHED,
            token="t",
            remote_id="r1",
            published_at=row.due,
        )

    def events_named(self, name: str) -> list[dict]:
        return [e for e in read_events(self.events.path) if e["event"] == name]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.ledger.close()
    w.events.close()


AT = NOW + timedelta(hours=5)


def test_plans_each_account_once_and_resyncs_idempotently(world: World) -> None:
    world.repo.write("p", text="Hello", at=AT, to=["a", "b"])
    assert world.sync().added == 2
    again = world.sync()
    assert (again.added, again.updated, again.cancelled) == (0, 0, [])
    assert {r.account: r.due for r in world.rows("p")} == {"a": AT, "b": AT}


def test_removed_or_drafted_before_due_is_cancelled_and_comes_back(world: World) -> None:
    world.repo.write("p", text="Hello", at=AT)
    world.repo.write("q", text="Other", at=AT)
    world.sync()
    world.repo.remove("p")
    world.repo.write("q", text="Other", at=AT, draft=True)
    report = world.sync()
    assert {r.post_id for r in report.cancelled} == {"posts/p.yaml", "posts/q.yaml"}
    assert world.state("p") is State.CANCELLED and world.state("q") is State.CANCELLED
    reasons = {e["post"]: e["reason"] for e in world.events_named("cancelled")}
    assert "removed" in reasons["posts/p.yaml"] and "draft" in reasons["posts/q.yaml"]
    world.repo.write("q", text="Other", at=AT)
    assert [r.post_id for r in world.sync().restored] == ["posts/q.yaml"]
    assert world.state("q") is State.PLANNED


def test_time_change_before_due_moves_the_delivery(world: World) -> None:
    world.repo.write("p", text="Hello", at=AT)
    world.sync()
    (before,) = world.rows("p")
    world.repo.write("p", text="Hello", at=AT + timedelta(hours=1))
    world.sync()
    (after,) = world.rows("p")
    assert after.id == before.id and after.due == AT + timedelta(hours=1)
    assert after.state is State.PLANNED


def test_edit_after_publishing_is_recorded_not_reposted(world: World) -> None:
    world.repo.write("p", text="Hello", at=AT)
    world.sync()
    world.publish("p")
    world.now = AT + timedelta(days=10)  # long after: the post is out of the planning window
    world.repo.write("p", text="Hello, fixed typo", at=AT)
    report = world.sync()
    assert [r.post_id for r in report.edited] == ["posts/p.yaml"]
    (row,) = world.rows("p")
    assert row.state is State.EDITED and row.remote_id == "r1"
    assert world.ledger.claimable(now=world.now) == []
    (event,) = world.events_named("edited")
    assert event["remote_id"] == "r1"
    assert world.sync().edited == []  # recorded once


def test_renamed_file_keeps_its_delivery(world: World) -> None:
    world.repo.write("old", text="Hello", at=AT, to=["a", "b"])
    world.sync()
    ids = {r.account: r.id for r in world.rows("old")}
    world.repo.rename("old", "new")
    report = world.sync()
    assert len(report.renamed) == 2 and report.cancelled == [] and report.added == 0
    assert {r.account: r.id for r in world.rows("new")} == ids


def test_renamed_after_publishing_is_not_published_again(world: World) -> None:
    world.repo.write("old", text="Hello", at=AT)
    world.sync()
    world.publish("old")
    world.now = AT + timedelta(minutes=30)
    world.repo.rename("old", "moved")
    report = world.sync()
    assert report.added == 0 and len(report.renamed) == 1
    assert world.state("moved") is State.PUBLISHED
    assert world.ledger.claimable(now=world.now) == []


def test_a_slot_once_given_stays_when_posts_are_added(world: World) -> None:
    world.repo.write("m", text="Queued first")
    world.sync()
    (first,) = world.rows("m")
    assert first.slotted and first.due == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # 09:00 CET
    world.repo.write("a", text="Queued later, sorts before m")
    world.sync()
    (kept,) = world.rows("m")
    (added,) = world.rows("a")
    assert kept.due == first.due and added.due == datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    world.repo.remove("m")  # a removed post frees its slot for the next sync's new posts
    world.sync()
    world.repo.write("z", text="Newest")
    world.sync()
    (newest,) = world.rows("z")
    assert newest.due == first.due


def test_a_broken_file_is_left_alone(world: World) -> None:
    world.repo.write("p", text="Hello", at=AT)
    world.sync()
    (world.repo.root / "posts" / "p.yaml").write_text("text: [unclosed\n", encoding="utf-8")
    report = world.sync()
    assert report.cancelled == [] and "posts/p.yaml" in report.held_files
    assert world.state("p") is State.PLANNED


def test_a_broken_config_changes_nothing(world: World) -> None:
    world.repo.write("p", text="Hello", at=AT)
    world.sync()
    (world.repo.root / "klapper.yaml").write_text("timezone: Mars/Olympus\n", encoding="utf-8")
    with pytest.raises(RepositoryBroken, match="klapper.yaml"):
        world.sync()
    assert world.state("p") is State.PLANNED


def test_repeats_get_one_row_per_occurrence(world: World) -> None:
    world.repo.write("daily", text="Good morning", every="0 10 * * *", count=3, start=NOW)
    world.sync()
    rows = world.rows("daily")
    assert [r.due.hour for r in rows] == [9, 9, 9] and len({r.occurrence for r in rows}) == 3


def test_times_are_stored_in_utc_across_the_dst_change(world: World) -> None:
    from klapper.cli.engine import _local

    world.repo.write(
        "night",
        text="Night owl",
        every="30 2 * * *",
        count=4,
        start=datetime(2026, 3, 27, tzinfo=UTC),
    )
    world.sync()
    rows = world.rows("night")
    raw = [r[0] for r in world.ledger._read("SELECT due FROM deliveries ORDER BY due")]
    assert all(text.endswith("+00:00") for text in raw)
    # 02:30 in Berlin: CET (UTC+1), then on 29 March the gap moves it to 03:30 CEST (UTC+2).
    assert [(r.due.day, r.due.hour, r.due.minute) for r in rows] == [
        (27, 1, 30),
        (28, 1, 30),
        (29, 1, 30),
        (30, 0, 30),
    ]
    shown = [_local(r.due, world.repo.load().config.tz) for r in rows]
    assert shown[0].endswith("02:30 CET") and shown[2].endswith("03:30 CEST")
    assert shown[3].endswith("02:30 CEST")


class _Stale(Ledger):
    """A ledger whose sync reads happened before another process wrote (a race, made certain)."""

    def for_sync(self, *, start: datetime) -> list:
        return []

    def post_ids(self) -> set[str]:
        return set()


def test_a_sync_racing_another_process_plans_nothing_twice_and_does_not_crash(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    world.repo.write("a", text="A", at=NOW + timedelta(hours=3))
    world.repo.write("b", text="B", at=NOW + timedelta(hours=4))
    assert world.sync().added == 2
    world.repo.rename("b", "c")  # a rename the other process also sees
    stale = _Stale(world.ledger.path)
    report = sync(ledger=stale, events=world.events, repository=world.repo.load(), now=NOW)
    assert report.added == 0
    assert world.sync().added == 0
    assert len(world.ledger.deliveries()) == 2
    stale.close()
