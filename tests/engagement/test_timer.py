"""The daemon's engagement timer: one APScheduler job, armed for the next round with work."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from klapper.adapters.mastodon.adapter import MastodonAdapter
from klapper.config.model import Config
from klapper.engagement.store import EngagementStore
from klapper.ledger import EventLog, Ledger, read_events
from klapper.scheduler.engagement_timer import JOB_ID, EngagementTimer
from tests.engagement.helpers import config_for, record_published
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.plausible import KEY, SITE, fake_plausible
from tests.fakes.site_visits import Visit


def _wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def scheduler() -> Iterator[BackgroundScheduler]:
    running = BackgroundScheduler(
        timezone=UTC, job_defaults={"misfire_grace_time": None, "coalesce": True}
    )
    running.start()
    yield running
    running.shutdown(wait=False)


def _engine(state: Path, config, adapters) -> SimpleNamespace:
    """What the timer reads of the daemon's Engine."""
    locks: dict[str, threading.Lock] = {}
    publisher = SimpleNamespace(
        adapters=adapters,
        _lock_for=lambda name: locks.setdefault(name, threading.Lock()),
        posts={},
    )
    return SimpleNamespace(
        ledger=Ledger.open(state=state),
        events=EventLog(state / "ev.jsonl"),
        config=config,
        publisher=publisher,
        clock=lambda: datetime.now(UTC),
        on_secrets=None,
    )


def test_no_job_while_nothing_can_ever_be_due(tmp_path: Path, scheduler) -> None:
    engine = _engine(tmp_path, config_for({"local": "outbox"}), adapters=lambda name: None)
    timer = EngagementTimer(engine=engine, scheduler=scheduler)
    timer.arm()
    assert scheduler.get_job(JOB_ID) is None  # the outbox has no reactions: idle stays idle
    timer.stop()
    engine.ledger.close()


def test_rounds_run_when_due_and_the_job_moves_to_the_next_one(tmp_path: Path, scheduler) -> None:
    with FakeMastodon() as server:
        adapter = MastodonAdapter(
            name="masto",
            settings={"instance": server.url, "cache_dir": str(tmp_path)},
            secrets={"access_token": server.state.token},
            repo=tmp_path,
            timeout=2.0,
        )
        config = config_for({"masto": "mastodon"}, min_gap="0.1s", inbox_every="1h")
        engine = _engine(tmp_path, config, adapters=lambda name: adapter)
        status = server.state.add_status(text="soon an hour old")
        record_published(
            engine.ledger,
            post_id="p",
            account="masto",
            platform="mastodon",
            remote_ids=[status["id"]],
            published_at=datetime.now(UTC) - timedelta(hours=1, seconds=-0.6),
        )
        store = EngagementStore(engine.ledger)
        timer = EngagementTimer(engine=engine, scheduler=scheduler)
        timer.arm()  # the first inbox read is due at once, the reading 0.6 s later
        _wait_for(lambda: len(store.readings()) == 1)
        _wait_for(
            lambda: (
                (job := scheduler.get_job(JOB_ID)) is not None
                and job.next_run_time > datetime.now(UTC) + timedelta(minutes=50)
            )
        )
        checked = datetime.fromisoformat(store.account_marks()["masto"]["inbox_checked_at"])
        assert scheduler.get_job(JOB_ID).next_run_time == checked + timedelta(hours=1)

        # A pause logged by the publisher has the notices checked at once, not at the next round.
        checked_notices = threading.Event()
        timer.service.notices = checked_notices.set  # type: ignore[union-attr, method-assign]
        engine.events.emit("paused", account="masto", reason="token revoked")
        assert checked_notices.wait(5)
        timer.stop()
        assert scheduler.get_job(JOB_ID) is None
        engine.events.close()
        engine.ledger.close()
        adapter.close()


def test_a_publish_rearms_for_its_first_reading(tmp_path: Path, scheduler) -> None:
    with FakeMastodon() as server:
        adapter = MastodonAdapter(
            name="masto",
            settings={"instance": server.url, "cache_dir": str(tmp_path)},
            secrets={"access_token": server.state.token},
            repo=tmp_path,
            timeout=2.0,
        )
        config = config_for({"masto": "mastodon"}, inbox_every="1d")
        engine = _engine(tmp_path, config, adapters=lambda name: adapter)
        store = EngagementStore(engine.ledger)
        timer = EngagementTimer(engine=engine, scheduler=scheduler)
        timer.arm()
        _wait_for(
            lambda: (
                store.account_marks().get("masto") is not None
                and store.account_marks()["masto"]["inbox_checked_at"] is not None
            )
        )
        # The job is briefly absent while its round runs (a date job leaves the store).
        _wait_for(
            lambda: (
                (job := scheduler.get_job(JOB_ID)) is not None
                and job.next_run_time > datetime.now(UTC) + timedelta(hours=23)
            )
        )
        published = datetime.now(UTC)
        delivery = record_published(
            engine.ledger,
            post_id="new",
            account="masto",
            platform="mastodon",
            remote_ids=["1"],
            published_at=published,
        )
        engine.events.emit("published", delivery=delivery)  # what the publisher logs
        due = scheduler.get_job(JOB_ID).next_run_time - (published + timedelta(hours=1))
        assert abs(due) < timedelta(milliseconds=1)
        timer.stop()
        engine.events.close()
        engine.ledger.close()
        adapter.close()


def test_the_timer_reads_visits_for_a_platform_without_reactions(
    tmp_path: Path, scheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLAPPER_SECRETS", str(tmp_path / "no-secrets.yaml"))
    monkeypatch.setenv("KLAPPER_ANALYTICS_TOKEN", KEY)
    with fake_plausible() as (base, site):
        config = Config.model_validate(
            {
                "timezone": "Europe/Berlin",
                "accounts": {"local": {"platform": "outbox", "path": "outbox"}},
                "analytics": {"plausible": {"url": base, "site_id": SITE}},
            }
        )
        engine = _engine(tmp_path, config, adapters=lambda name: None)
        timer = EngagementTimer(engine=engine, scheduler=scheduler)
        timer.arm()
        assert scheduler.get_job(JOB_ID) is None  # nothing published: nothing to read
        published = datetime.now(UTC) - timedelta(hours=2)
        delivery = record_published(
            engine.ledger,
            post_id="advent",
            account="local",
            platform="outbox",
            remote_ids=["outbox-1"],
            published_at=published,
        )
        site.add([Visit("advent", "outbox", published.astimezone(config.tz).date(), "a")])
        engine.events.emit("published", delivery=delivery)  # what the publisher logs
        _wait_for(lambda: any(e["event"] == "visits" for e in read_events(engine.events.path)))
        (event,) = [e for e in read_events(engine.events.path) if e["event"] == "visits"]
        assert (event["delivery"], event["visits"]) == (delivery.id, 1)
        # Re-armed for the next stage, 6 h after publishing (the 1 h one was read).
        _wait_for(
            lambda: (
                (job := scheduler.get_job(JOB_ID)) is not None
                and abs(job.next_run_time - (published + timedelta(hours=6))) < timedelta(seconds=1)
            )
        )
        assert len(site.asked) == 2  # visits and goals, in one round
        timer.stop()
        engine.events.close()
        engine.ledger.close()
