"""Bring the ledger in line with the content repository: plan, cancel, note edits and renames.

The repository plus the ledger are the truth. A sync, run at start, after every change and
before a batch, does this:

- a post that is new to the ledger but has the content, account and time of a delivery whose
  post vanished is that delivery, renamed or moved: the row follows it (``renamed``), keeping its
  state, so a renamed file is never published again; a slotted post keeps its slot;
- every planned delivery in the window (catch-up window back, ``HORIZON`` ahead) gets a row;
- an open delivery (planned, or failed awaiting a retry) that is no longer planned is
  ``cancelled`` (file removed, made a draft, account dropped, time moved); one that comes back
  is planned again;
- a delivery on the platform whose content changed is recorded ``edited``, never re-sent (one
  rebuilt from the event log takes the content as it is now);
- every write tolerates another process syncing at the same time (a daemon, `publish --due`,
  `status`): a row someone else planned or renamed first is left to them;
- posts of files with errors are left as they are (neither cancelled nor changed) until fixed,
  and nothing happens at all while klapper.yaml has errors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from klapper.config.load import CONFIG_FILE
from klapper.ledger import ON_PLATFORM, Delivery, EventLog, Ledger, State
from klapper.ledger.states import answered_item
from klapper.queue import Repository
from klapper.queue.model import PlannedDelivery, Post, first_line_of
from klapper.scheduler.evergreen import (
    EvergreenPlanner,
    evergreen_planner,
    recurrence_number,
)
from klapper.scheduler.plan import plan_deliveries

log = logging.getLogger("klapper.sync")

#: how far ahead deliveries are planned into the ledger (repeats beyond wait for later syncs)
HORIZON = timedelta(days=35)


class RepositoryBroken(Exception):
    """klapper.yaml has errors: nothing is planned or cancelled until it is fixed."""


@dataclass
class SyncReport:
    """What a sync changed."""

    added: int = 0
    updated: int = 0
    cancelled: list[Delivery] = field(default_factory=list)
    restored: list[Delivery] = field(default_factory=list)
    edited: list[Delivery] = field(default_factory=list)
    renamed: list[Delivery] = field(default_factory=list)
    held_files: set[str] = field(default_factory=set)


def sync(
    *,
    ledger: Ledger,
    events: EventLog,
    repository: Repository,
    now: datetime,
    horizon: timedelta = HORIZON,
) -> SyncReport:
    """Plan ``repository`` into ``ledger`` (see the module docstring); logs every change."""
    errors = [p for p in repository.problems if p.severity == "error"]
    if any(p.source.file == CONFIG_FILE for p in errors):
        raise RepositoryBroken(
            "klapper.yaml has errors (run `klapper check`); nothing changes "
            "in the ledger until they are fixed"
        )
    report = SyncReport(held_files={p.source.file for p in errors})
    _Sync(ledger, events, repository, now, report).run(
        start=now - repository.config.defaults.catch_up,
        end=now + horizon,
        held_posts={p.post for p in errors if p.post},
    )
    return report


class _Sync:
    def __init__(
        self,
        ledger: Ledger,
        events: EventLog,
        repository: Repository,
        now: datetime,
        report: SyncReport,
    ) -> None:
        self.ledger, self.events, self.now, self.report = ledger, events, now, report
        self.config = repository.config
        self.posts = {p.id: p for p in repository.posts}
        self.ordered = list(repository.posts)

    def platform(self, account: str) -> str:
        return self.config.accounts[account].platform

    def held(self, row: Delivery, held_posts: set[str]) -> bool:
        return row.source in self.report.held_files or row.post_id in held_posts

    def run(self, *, start: datetime, end: datetime, held_posts: set[str]) -> None:
        self.follow_renames(held_posts)
        assigned, taken = self.slots(held_posts)
        evergreen = self.evergreen()
        if evergreen is not None:
            taken += [d.due for d in evergreen.kept]  # placed recurrences keep their slots
        planned = [
            d
            for d in plan_deliveries(
                config=self.config,
                posts=self.ordered,
                start=start,
                end=end,
                assigned_slots=assigned,
                taken=taken,
                slots_from=self.now,
            )
            if d.account in self.config.accounts
        ]
        self.ledger.assign_slots(
            {d.post_id: d.due for d in planned if d.slotted and d.post_id not in assigned}
        )
        if evergreen is not None:
            planned += evergreen.kept
            planned += evergreen.place(planned=planned, taken=taken, end=end)
        rows = {row.key: row for row in self.ledger.for_sync(start=start)}
        seen: set[str] = set()
        for delivery in planned:
            seen.add(delivery.key)
            self.apply(delivery, rows.get(delivery.key))
        for key, row in rows.items():
            if key in seen or answered_item(row.post_id) is not None:
                continue  # planned now; or an answer from the inbox, which has no post file
            if row.state in ON_PLATFORM:
                self.check_edit(row)
            elif row.state in (State.PLANNED, State.FAILED) and not self.held(row, held_posts):
                self.maybe_cancel(row, start=start, end=end)

    def evergreen(self) -> EvergreenPlanner | None:
        """The planner of evergreen recurrences (None: no such posts)."""
        return evergreen_planner(
            config=self.config, posts=self.ordered, now=self.now, ledger=self.ledger
        )

    # --- renames ---------------------------------------------------------------------------

    def follow_renames(self, held_posts: set[str]) -> None:
        known = self.ledger.post_ids()
        new = [p for p in self.ordered if p.id not in known and not p.draft]
        if not new:
            return
        orphans: dict[tuple[str, str], list[Delivery]] = {}
        for row in self.ledger.unclaimed():
            if (
                row.post_id not in self.posts
                and answered_item(row.post_id) is None
                and not self.held(row, held_posts)
            ):
                orphans.setdefault((row.account, row.content_hash), []).append(row)
        for post in new:
            for account in post.to:
                if account not in self.config.accounts:
                    continue
                pool = orphans.get((account, post.content_hash(account, self.platform(account))))
                for row in [r for r in pool or () if _same_time(post, r)]:
                    pool.remove(row)  # type: ignore[union-attr]
                    self.rename(row, post)

    def rename(self, row: Delivery, post: Post) -> None:
        moved = self.ledger.update(
            row.id, now=self.now, expect=[row.state], post_id=post.id, source=post.source.file
        )
        if moved is None:
            return
        if row.slotted:
            self.ledger.move_slot(old=row.post_id, new=post.id)
        self.report.renamed.append(moved)
        self.events.emit(
            "renamed", delivery=moved, now=self.now, old_post=row.post_id, source=post.source.file
        )
        log.info(
            "%s is %s renamed (same content, account and time): not published again",
            post.id,
            row.post_id,
        )

    # --- slots -----------------------------------------------------------------------------

    def slots(self, held_posts: set[str]) -> tuple[dict[str, datetime], list[datetime]]:
        """Slots of current posts are theirs; a vanished post's slot stays taken only if it
        went out (or its file is broken); otherwise it is freed for others."""
        assigned: dict[str, datetime] = {}
        taken: list[datetime] = []
        freed: list[str] = []
        for post_id, due in self.ledger.slots().items():
            if post_id in self.posts:
                assigned[post_id] = due
                continue
            rows = self.ledger.for_post(post_id)
            if any(r.state in ON_PLATFORM or self.held(r, held_posts) for r in rows):
                taken.append(due)
            else:
                freed.append(post_id)
        self.ledger.drop_slots(freed)
        return assigned, taken

    # --- one planned delivery --------------------------------------------------------------

    def apply(self, planned: PlannedDelivery, row: Delivery | None) -> None:
        post = self.posts[planned.post_id]
        platform = self.platform(planned.account)
        fields: dict[str, Any] = {
            "due": planned.due,
            "slotted": planned.slotted,
            "source": post.source.file,
            "content_hash": post.content_hash(planned.account, platform),
            "first_line": first_line_of(post.text_for(planned.account, platform))[:200],
        }
        if row is None:
            # None: another process (a daemon, `publish --due`, `status`) planned it first.
            if self.ledger.add_planned(
                post_id=planned.post_id,
                occurrence=planned.occurrence,
                account=planned.account,
                platform=platform,
                now=self.now,
                **fields,
            ):
                self.report.added += 1
        elif row.state in ON_PLATFORM:
            self.check_edit(row)
        elif row.state is State.CANCELLED or (
            row.state is State.MISSED
            and planned.due != row.due
            and planned.due >= self.now - self.config.defaults.catch_up
        ):
            restored = self.ledger.update(
                row.id,
                now=self.now,
                expect=[row.state],
                state=State.PLANNED,
                reason=None,
                attempts=0,
                retry_at=None,
                **fields,
            )
            if restored is not None:
                self.report.restored.append(restored)
                log.info(
                    "%s to %s is planned again (%s)",
                    row.post_id,
                    row.account,
                    planned.due.isoformat(),
                )
        elif (
            row.state in (State.PLANNED, State.FAILED, State.UNKNOWN)
            and _differs(row, fields)
            and self.ledger.update(row.id, now=self.now, expect=[row.state], **fields)
        ):
            self.report.updated += 1

    def check_edit(self, row: Delivery) -> None:
        post = self.posts.get(row.post_id)
        if post is None or row.account not in post.to or row.account not in self.config.accounts:
            return
        platform = self.platform(row.account)
        digest = post.content_hash(row.account, platform)
        if digest == row.content_hash:
            return
        line = first_line_of(post.text_for(row.account, platform))[:200]
        if not row.content_hash:  # rebuilt from the event log, which holds no content
            self.ledger.update(
                row.id,
                now=self.now,
                expect=[row.state],
                content_hash=digest,
                first_line=line,
                source=post.source.file,
            )
            return
        edited = self.ledger.update(
            row.id,
            now=self.now,
            expect=[row.state],
            state=State.EDITED,
            content_hash=digest,
            first_line=line,
        )
        if edited is None:
            return
        self.report.edited.append(edited)
        self.events.emit(
            "edited",
            delivery=edited,
            now=self.now,
            remote_id=edited.remote_id,
            url=edited.url,
            source=post.source.file,
        )
        log.warning(
            "%s was edited after it went to %s: the change is recorded, not published"
            " (post it by hand, or as a new post with a new id)",
            row.post_id,
            row.account,
        )

    def maybe_cancel(self, row: Delivery, *, start: datetime, end: datetime) -> None:
        post = self.posts.get(row.post_id)
        if post is None:
            reason = "its post was removed from the repository"
        elif post.draft:
            reason = "its post was made a draft"
        elif row.account not in post.to or row.account not in self.config.accounts:
            reason = f"its post no longer goes to {row.account}"
        elif start <= row.due <= end:
            reason = "its post's time changed"
        else:
            return  # before the window (catch-up decides) or beyond it: still its post's
        cancelled = self.ledger.update(
            row.id,
            now=self.now,
            expect=[row.state],
            state=State.CANCELLED,
            reason=reason,
            retry_at=None,
        )
        if cancelled is None:
            return
        self.report.cancelled.append(cancelled)
        self.events.emit("cancelled", delivery=cancelled, now=self.now, reason=reason)
        log.info("cancelled %s to %s: %s", row.post_id, row.account, reason)


def _same_time(post: Post, row: Delivery) -> bool:
    """Whether ``row`` could be ``post``'s delivery under its old name."""
    if post.every is not None:
        return row.occurrence != ""
    if post.evergreen is not None and recurrence_number(row.occurrence):
        return True  # a recurrence follows its post like its first time
    if post.at is not None:
        return row.occurrence == "" and not row.slotted and row.due == post.at
    return row.occurrence == "" and row.slotted


def _differs(row: Delivery, fields: dict[str, Any]) -> bool:
    return any(getattr(row, name) != value for name, value in fields.items())


def summary(report: SyncReport) -> Iterable[str]:
    """Short lines for logs and the daemon's STATUS."""
    for name in ("cancelled", "restored", "edited", "renamed"):
        items = getattr(report, name)
        if items:
            yield f"{len(items)} {name}"
    if report.added:
        yield f"{report.added} planned"
