"""One content repository and one state folder: load, sync, recover, publish (daemon and CLI)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path

from klapper.config.model import Config
from klapper.engagement.store import EngagementStore
from klapper.ledger import Delivery, EventLog, Ledger, event_log_path, read_events
from klapper.ledger.faults import check_room
from klapper.ledger.owner import owner_alive
from klapper.ledger.rebuild import rebuild
from klapper.ledger.repolock import RepositoryHold
from klapper.queue import LoadCache, Repository, announced_rules, check_posts, load_repository
from klapper.scheduler.accounts import AccountAdapters
from klapper.scheduler.answers import InboxAnswers
from klapper.scheduler.publisher import AdapterFactory, Clock, Publisher, utc_now
from klapper.scheduler.sync import HORIZON, SyncReport, sync

log = logging.getLogger("klapper.engine")

#: builds the adapter factory for a config (tests swap in fake platforms)
AdaptersFor = Callable[[Config, Path], AdapterFactory]


class Engine:
    """The pieces every engine command needs, wired together.

    ``reload()`` reads the repository (incrementally when ``watched``) and syncs the ledger
    (rebuilding it from the event log first when it is empty);
    ``recover()`` turns claims of dead processes into ``unknown``; ``publisher`` publishes.
    """

    def __init__(
        self,
        *,
        repo: Path,
        state: Path,
        adapters_for: AdaptersFor | None = None,
        clock: Clock = utc_now,
        watched: bool = False,
        on_secrets: Callable[[Iterable[str]], None] | None = None,
        horizon: timedelta = HORIZON,
        hold_repository: bool = True,
        ledger: str | None = None,
    ) -> None:
        self.repo = repo
        self.state = state
        self.clock = clock
        self.horizon = horizon
        self.on_secrets = on_secrets  # the analytics token is redacted like the accounts' own
        self.cache = LoadCache(watched=watched)
        self._adapters_for = adapters_for or (
            lambda config, root: AccountAdapters(
                config=config, repo=root, state=state, on_secrets=on_secrets
            )
        )
        # One ledger per repository: a second state folder is refused (ledger/repolock.py).
        # A ledger shared by several daemons (``ledger``: a PostgreSQL URL) is the point there.
        hold = hold_repository and ledger is None
        self.hold = RepositoryHold(repo=repo, state=state) if hold else None
        try:
            self.ledger = Ledger.open(state=state, url=ledger)
        except BaseException:
            if self.hold is not None:
                self.hold.release()
            raise
        self.events: EventLog | None = None
        self.repository: Repository | None = None
        self.publisher: Publisher | None = None
        self._adapters: AdapterFactory | None = None

    @property
    def config(self) -> Config:
        return self.repository.config if self.repository else Config()

    def reload(self) -> SyncReport:
        """Read the repository and sync the ledger; raises RepositoryBroken (nothing changed)."""
        repository = load_repository(self.repo, cache=self.cache)
        config_changed = self.repository is None or repository.config != self.repository.config
        self._open_events(repository.config)
        assert self.events is not None
        self.check_room()
        self._rebuild_if_lost()
        report = sync(
            ledger=self.ledger,
            events=self.events,
            repository=repository,
            now=self.clock(),
            horizon=self.horizon,
        )
        self.repository = repository
        if config_changed or self._adapters is None:
            if isinstance(self._adapters, AccountAdapters):
                self._adapters.close()
            self._adapters = self._adapters_for(repository.config, self.repo)
        posts = {post.id: post for post in repository.posts}
        if self.publisher is None:
            self.publisher = Publisher(
                ledger=self.ledger,
                events=self.events,
                config=repository.config,
                posts=posts,
                adapters=self._adapters,
                clock=self.clock,
                answers=InboxAnswers(EngagementStore(self.ledger)),
            )
        self.publisher.use(config=repository.config, posts=posts, held=self._held(repository))
        self.publisher.adapters = self._adapters
        for problem in repository.problems:
            if problem.severity == "error":
                log.error(
                    "%s: %s (that post is left as it is until fixed)",
                    problem.source,
                    problem.message,
                )
        return report

    def _rebuild_if_lost(self) -> None:
        """An empty ledger does not trust its emptiness: replay the event log into it first."""
        if not self.ledger.is_empty():
            return
        assert self.events is not None
        report = rebuild(
            self.ledger, events=read_events(self.events.path), now=self.clock(), only_if_empty=True
        )
        if report is not None and report.total:
            log.warning(
                "the ledger %s was empty: rebuilt %d deliveries from the event log %s (%s);"
                " those that may have gone out are looked for on the platform first",
                self.ledger.where,
                report.total,
                self.events.path,
                ", ".join(f"{n} {state}" for state, n in sorted(report.restored.items())),
            )

    def check_room(self) -> None:
        """Raise ``StateError`` unless the ledger and the event log can be written (disk)."""
        folder = os.open(self.state, os.O_RDONLY | os.O_DIRECTORY)
        try:
            check_room(folder, path=self.ledger.path or self.state)
        finally:
            os.close(folder)
        if self.events is not None:
            self.events.check_room()

    def _held(self, repository: Repository) -> dict[tuple[str, str], str]:
        """Deliveries `klapper check` finds errors in (too long, bad media ...), with why."""
        held: dict[tuple[str, str], str] = {}
        rules = announced_rules(repository.config, cache_dir=self.state)
        for problem in check_posts(
            repository, now=self.clock(), published=lambda _: True, rules=rules
        ):
            if problem.severity == "error" and problem.post is not None:
                held.setdefault((problem.post, problem.account or "*"), problem.message)
        return held

    def _open_events(self, config: Config) -> None:
        path = event_log_path(state=self.state, configured=config.paths.log)
        if self.events is not None and self.events.path == path:
            return
        if self.events is not None:
            self.events.close()
        self.events = EventLog(path)
        self.ledger.attach(self.events)  # a shared ledger keeps every daemon's events too
        if self.publisher is not None:
            self.publisher.events = self.events

    def recover(self) -> list[Delivery]:
        """Claims left by processes that died become UNKNOWN (looked for before any retry)."""
        now = self.clock()
        alive: Callable[[Delivery], bool]
        if self.ledger.shared:
            if self.repository is None:
                return []  # the lease is klapper.yaml's: the refresh after loading looks
            # A lease: its owner renews it while publishing (wherever it runs); one not
            # renewed for ``publishing.lease`` belongs to a daemon that died or lost the server.
            lease = self.config.publishing.lease
            alive = lambda d: d.claimed_at is not None and now - d.claimed_at < lease  # noqa: E731
        else:
            # A claim from another machine is presumed dead after this long.
            stale_after = max(self.config.publishing.timeout * 10, timedelta(minutes=10))
            alive = lambda d: owner_alive(  # noqa: E731
                d.claim_owner, claimed_at=d.claimed_at, now=now, stale_after=stale_after
            )
        released = self.ledger.release_dead_claims(now=now, alive=alive)
        if released:
            self._open_events(self.config)
            assert self.events is not None
            for delivery in released:
                self.events.emit("unknown", delivery=delivery, now=now, reason=delivery.reason)
                log.warning("%s to %s: %s", delivery.post_id, delivery.account, delivery.reason)
        return released

    def close(self) -> None:
        if self.publisher is not None:
            self.publisher.close()
        if isinstance(self._adapters, AccountAdapters):
            self._adapters.close()
        if self.events is not None:
            self.events.close()
        self.ledger.close()
        if self.hold is not None:
            self.hold.release()
