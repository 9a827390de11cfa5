"""The daemon's feed timer: one job armed for the next configured feed due to be read.

`feeds:` in klapper.yaml (intake/feeds.py) are read on their own interval: one APScheduler
date job (``JOB_ID``) fires when the next feed is due, reads every feed that is due, and is
armed again. New post files land in the posts folder, where the watcher sees them and the
queue is reloaded as after any edit. Without feeds there is no job: no polling while idle.
A feed's failure is logged as one line naming klapper.yaml's line; publishing goes on.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from klapper.config.model import Config
from klapper.intake.feeds import FeedRun, next_check, run_feeds
from klapper.scheduler.timers import Timers

log = logging.getLogger("klapper.feeds")

JOB_ID = "klapper-feeds"


class FeedTimer:
    """Keeps the daemon's one feed job armed; built from the daemon's engine."""

    def __init__(self, *, engine: Any, scheduler: Any) -> None:
        self.engine = engine
        self.timers = Timers(scheduler)

    def arm(self) -> None:
        """(Re)arm the job for the next feed due, from the engine's current klapper.yaml."""
        if self.engine.repository is None:
            return  # klapper.yaml never loaded
        when = next_check(
            config=self.engine.config, state=self.engine.state, now=self.engine.clock()
        )
        if when is None:
            self.timers.cancel(JOB_ID)
        else:
            self.timers.set(JOB_ID, when=when, run=self._run)

    def _run(self) -> None:
        engine = self.engine
        try:
            read_feeds(
                repo=engine.repo, state=engine.state, config=engine.config, now=engine.clock()
            )
        except Exception:
            log.exception("reading the feeds failed")
        self.arm()

    def stop(self) -> None:
        self.timers.cancel(JOB_ID)


def read_feeds(*, repo: Path, state: Path, config: Config, now: datetime) -> list[FeedRun]:
    """Read the repository's feeds that are due; log what came of each."""
    runs = run_feeds(repo=repo, state=state, config=config, now=now)
    for run in runs:
        for problem in run.problems():
            log.error("%s", problem)
        if run.result is not None and run.result.written:
            where = f" on branch {run.feed.git_branch}" if run.commit else ""
            log.info("%s: %d new posts%s", run.where, len(run.result.written), where)
    return runs
