"""One-shot timers by key: a timer re-armed while its key runs is run again, never dropped."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from klapper.scheduler.timers import Timers
from tests.scheduler.procs import wait_for


@pytest.fixture
def timers() -> Iterator[Timers]:
    scheduler = BackgroundScheduler(
        timezone=UTC,
        executors={"default": ThreadPoolExecutor(4)},
        job_defaults={"misfire_grace_time": None, "max_instances": 1},
    )
    scheduler.start()
    yield Timers(scheduler)
    scheduler.shutdown(wait=False)


def test_a_timer_rearmed_by_its_own_run_runs_again_not_alongside(timers: Timers) -> None:
    runs: list[str] = []
    inside = threading.Lock()
    release = threading.Event()

    def run() -> None:
        assert inside.acquire(blocking=False), "two runs of one key at once"
        try:
            runs.append("run")
            if len(runs) == 1:
                # Re-armed for now while still running (a publish re-arming its retry).
                timers.set("d1", when=datetime.now(UTC), run=run)
                release.wait(timeout=5)
        finally:
            inside.release()

    timers.set("d1", when=datetime.now(UTC), run=run)
    wait_for(lambda: runs, timeout=5)
    wait_for(lambda: timers.when("d1") is None, timeout=5)  # the second timer has fired
    assert runs == ["run"]  # ... into the run in hand, not beside it
    release.set()
    wait_for(lambda: len(runs) == 2, timeout=5)


def test_a_moved_or_cancelled_timer_does_not_fire_at_its_old_time(timers: Timers) -> None:
    fired: list[str] = []
    soon = datetime.now(UTC) + timedelta(seconds=0.2)
    assert timers.set("a", when=soon, run=lambda: fired.append("a"))
    assert not timers.set("a", when=soon, run=lambda: fired.append("a"))  # armed already
    timers.set("a", when=soon + timedelta(hours=1), run=lambda: fired.append("a"))
    timers.set("b", when=soon, run=lambda: fired.append("b"))
    timers.cancel("b")
    timers.set("c", when=soon, run=lambda: fired.append("c"))
    wait_for(lambda: fired == ["c"], timeout=5)
    assert timers.armed() == {"a": soon + timedelta(hours=1)}
