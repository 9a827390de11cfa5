"""The publisher: claim a delivery, publish it part by part, record every step in the ledger.

A claim is committed before the platform is called. Each part is recorded as soon as it is
out, so a retry continues at the first part not recorded. Whenever the outcome of a call is in
doubt (a crash, a timeout, a 5xx, an unexpected error), the part is marked ``in_flight`` and
the next attempt asks the adapter's ``find`` first: only a part proven absent is sent again.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from klapper.adapters.base import (
    Adapter,
    AdapterError,
    AuthExpiredError,
    Interaction,
    Outgoing,
    PermanentError,
    Published,
    RateLimitedError,
    ThreadRef,
    TransientError,
)
from klapper.config.model import Config
from klapper.config.secrets import redact, secret_values
from klapper.ledger import Delivery, EventLog, Ledger, PartRecord, State
from klapper.ledger.owner import current_owner
from klapper.ledger.states import EVERY_PART, answered_item
from klapper.ledger.store import ClaimLost
from klapper.queue.model import Post, Source
from klapper.scheduler.leases import Leases
from klapper.scheduler.outgoing import outgoing_part, published_part
from klapper.scheduler.retry import backoff, is_timeout

log = logging.getLogger("klapper.publisher")

Clock = Callable[[], datetime]
AdapterFactory = Callable[[str], Adapter]

#: tries of a delivery whose publish failed with an error that is no adapter error (a fault in
#: klapper or a library, e.g. a RecursionError): trying again rarely helps, so it ends sooner
UNEXPECTED_TRIES = 3
REASON_CHARS = 300  # an unexpected error's message is cut to this in the reason


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: the delivery as recorded, and the event logged for it."""

    delivery: Delivery
    event: str  # published, retry, unknown, failed, paused, missed, held

    @property
    def ok(self) -> bool:
        return self.event == "published"


@dataclass(frozen=True)
class AnswerJob:
    """An answer from the inbox as the publisher sends it: the text, the item it answers."""

    item_id: str
    text: str
    item: Interaction


class AnswerSource(Protocol):
    """Where the publisher finds what an answer's delivery sends, and reports it sent."""

    def job(self, delivery: Delivery) -> AnswerJob | None:
        """What ``delivery`` (an answer's) sends; None when it is not known here."""

    def sent(self, delivery: Delivery, published: Published, *, job: AnswerJob) -> None:
        """The answer is on the platform: its item is answered."""


class _Failure(Exception):
    """Carries an adapter error out of the part loop with the part whose fate is unknown."""

    def __init__(self, error: Exception, uncertain: int | None, *, finding: bool = False) -> None:
        super().__init__(str(error))
        self.error = error
        self.uncertain = uncertain
        self.finding = finding  # raised by ``find``: nothing was proven absent yet


class Publisher:
    """Publishes deliveries from the ledger with the posts and adapters it is given."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        events: EventLog,
        config: Config,
        posts: Mapping[str, Post],
        adapters: AdapterFactory,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
        answers: AnswerSource | None = None,
    ) -> None:
        self.ledger = ledger
        self.answers = answers
        self.events = events
        self.config = config
        self.posts = dict(posts)
        self.adapters = adapters
        self.clock = clock
        self.rng = rng or random.Random()
        self.owner = current_owner()
        # (post id, account or "*") -> why `klapper check` refuses it: never sent to a platform.
        self.held: dict[tuple[str, str], str] = {}
        self._account_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        # A shared ledger: the claims in hand, renewed while the publish runs.
        self.leases = Leases(ledger=ledger, clock=clock, lease=lambda: self.config.publishing.lease)

    def use(
        self,
        *,
        config: Config,
        posts: Mapping[str, Post],
        held: Mapping[tuple[str, str], str] | None = None,
    ) -> None:
        """Publish from a reloaded repository from now on."""
        self.config, self.posts = config, dict(posts)
        if held is not None:
            self.held = dict(held)

    # --- batches ---------------------------------------------------------------------------

    def mark_missed(self) -> list[Delivery]:
        """Planned deliveries older than the catch-up window become MISSED (and are logged)."""
        now = self.clock()
        missed = self.ledger.mark_missed(before=now - self.config.defaults.catch_up, now=now)
        for delivery in missed:
            self.events.emit(
                "missed",
                delivery=delivery,
                now=now,
                due=delivery.due.isoformat(),
                reason=delivery.reason,
            )
            log.warning(
                "missed %s to %s (was due %s): %s",
                delivery.post_id,
                delivery.account,
                delivery.due.isoformat(),
                delivery.reason,
            )
        return missed

    def publish_due(self, *, progress: Callable[[int, int], None] | None = None) -> list[Outcome]:
        """Everything due now, oldest first; returns what each attempt came to."""
        outcomes = [Outcome(d, "missed") for d in self.mark_missed()]
        due = self.ledger.claimable(now=self.clock())
        for done, delivery in enumerate(due, start=1):
            outcome = self.publish(delivery.id)
            if outcome is not None:
                outcomes.append(outcome)
            if progress is not None:
                progress(done, len(due))
        return outcomes

    # --- one delivery ----------------------------------------------------------------------

    def publish(self, delivery_id: str) -> Outcome | None:
        """Claim and publish one delivery; None when it is not due, not claimable, or taken."""
        row = self.ledger.get(delivery_id)
        if row is None or row.state is State.CLAIMED:
            return None  # another process publishes it (a timer of every daemon fires for it)
        with self._lock_for(row.account):
            now = self.clock()
            if row.state is State.PLANNED and now - row.due > self.config.defaults.catch_up:
                missed = self.mark_missed()
                return next((Outcome(d, "missed") for d in missed if d.id == delivery_id), None)
            post, job = self.posts.get(row.post_id), self._answer(row)
            if job is not None:
                post = Post(
                    id=row.post_id, source=Source("inbox"), text=job.text, to=(row.account,)
                )
            account = self.config.accounts.get(row.account)
            if post is None or account is None:
                return None  # gone from the repository; the next sync cancels it
            if account.paused:
                return None  # `paused: true` in klapper.yaml
            reason = self.held.get((row.post_id, row.account)) or self.held.get((row.post_id, "*"))
            if reason is not None:
                # The platform would refuse it; it stays planned and goes out once fixed in time.
                log.error(
                    "holding %s to %s: %s (fix the post; `klapper check` shows it)",
                    row.post_id,
                    row.account,
                    reason,
                )
                return Outcome(row, "held")
            token = uuid.uuid4().hex
            claimed = self.ledger.claim(delivery_id, token=token, owner=self.owner, now=now)
            if claimed is None:
                return None
            self.leases.hold(delivery_id, token)
            try:
                return self._run(claimed, post, token, job)
            except ClaimLost as lost:
                # Another daemon took it over (after the lease ran out): it looks on the
                # platform first, so what went out from here is found there, not sent again.
                log.warning("%s to %s: %s", claimed.post_id, claimed.account, lost)
                return None
            finally:
                self.leases.release(delivery_id)

    def _answer(self, row: Delivery) -> AnswerJob | None:
        """An answer from the inbox (which has no post file): what it sends."""
        if self.answers is None or answered_item(row.post_id) is None:
            return None
        return self.answers.job(row)

    def close(self) -> None:
        """Stop renewing leases (the claims still in hand run out by themselves)."""
        self.leases.close()

    def _lock_for(self, account: str) -> threading.Lock:
        # One publish at a time per account: thread parts stay in order, adapters need no locks.
        with self._locks_guard:
            return self._account_locks.setdefault(account, threading.Lock())

    def _run(self, delivery: Delivery, post: Post, token: str, job: AnswerJob | None) -> Outcome:
        adapter: Adapter | None = None
        try:
            try:
                adapter = self.adapters(delivery.account)
            except Exception as exc:
                raise _Failure(
                    AuthExpiredError(f"account {delivery.account!r} cannot be set up: {exc}"),
                    delivery.in_flight,
                ) from exc
            return self._publish_parts(delivery, post, token, adapter, job)
        except _Failure as failure:
            secrets = secret_values(adapter.secrets) if adapter is not None else []
            reason = redact(str(failure.error) or type(failure.error).__name__, secrets)
            if not isinstance(failure.error, AdapterError):
                reason = f"unexpected {type(failure.error).__name__}: {reason}"[:REASON_CHARS]
            return self._failed(delivery, token, failure, reason)

    def _record(self, delivery: Delivery, token: str, *, part: int, published: Published) -> None:
        """Where the adapter says the part landed, as the ledger's own record."""
        now = self.clock()
        self.ledger.record_part(
            PartRecord(
                delivery_id=delivery.id,
                part=part,
                remote_id=published.remote_id,
                url=published.url,
                published_at=published.published_at or now,
                ref=dict(published.ref),
            ),
            token=token,
            now=now,
        )

    def _publish_parts(
        self, delivery: Delivery, post: Post, token: str, adapter: Adapter, job: AnswerJob | None
    ) -> Outcome:
        parts = post.parts_for(delivery.account, delivery.platform)
        done = [published_part(record) for record in self.ledger.parts(delivery.id)]
        send: Callable[[Outgoing], Published | None] = adapter.publish
        look: Callable[[Outgoing], Published | None] = adapter.find
        target: ThreadRef | None = None
        if job is not None:
            send, look = adapter.reply, adapter.find_reply
            try:
                target = adapter.reply_target(job.item)
            except Exception as exc:  # nothing was sent: what was in doubt stays so
                raise _Failure(exc, delivery.in_flight, finding=True) from exc
        # A part in doubt is looked for first; a delivery the ledger never saw (EVERY_PART)
        # may have any number of parts out: look for each in turn until one is absent.
        in_doubt = delivery.in_flight is not None
        while in_doubt and len(done) < len(parts):
            outgoing = outgoing_part(
                config=self.config,
                delivery=delivery,
                post=post,
                index=len(done),
                done=done,
                answering=target,
            )
            self.leases.still_held(delivery, token)
            found = self._call(look, outgoing, part=len(done), finding=True)
            self.events.emit(
                "reconciled",
                delivery=delivery,
                now=self.clock(),
                part=len(done),
                found=found is not None,
                remote_id=found.remote_id if found else None,
            )
            log.info(
                "%s to %s: part %d %s on the platform",
                delivery.post_id,
                delivery.account,
                len(done) + 1,
                "found" if found else "proven absent",
            )
            in_doubt = found is not None and delivery.in_flight == EVERY_PART
            if found is not None:
                self._record(delivery, token, part=len(done), published=found)
                done.append(found)
        for index in range(len(done), len(parts)):
            outgoing = outgoing_part(
                config=self.config,
                delivery=delivery,
                post=post,
                index=index,
                done=done,
                answering=target,
            )
            self.leases.still_held(delivery, token)
            published = self._call(send, outgoing, part=index, finding=False)
            assert published is not None, f"{type(adapter).__name__}.publish returned None"
            self._record(delivery, token, part=index, published=published)
            done.append(published)
        first = done[0]
        now = self.clock()
        final = self.ledger.update(
            delivery.id,
            now=now,
            expect=[State.CLAIMED],
            state=State.PUBLISHED,
            token=token,
            remote_id=first.remote_id,
            url=first.url,
            published_at=first.published_at or now,
            in_flight=None,
            claim_token=None,
            retry_at=None,
            reason=None,
        )
        if final is None:
            raise ClaimLost(f"delivery {delivery.id} is no longer claimed by this process")
        late = (final.published_at or now) - final.due
        self.events.emit(
            "published",
            delivery=final,
            now=now,
            remote_id=first.remote_id,
            url=first.url,
            parts=len(done),
            due=final.due.isoformat(),
            remote_ids=[p.remote_id for p in done] if len(done) > 1 else None,
            late_seconds=round(late.total_seconds(), 3),
        )
        log.info(
            "published %s to %s: %s", final.post_id, final.account, first.url or first.remote_id
        )
        if job is not None and self.answers is not None:
            self.answers.sent(final, first, job=job)
            self.events.emit(
                "answered",
                delivery=final,
                now=now,
                item=job.item_id,
                answers=job.item.remote_id,
                remote_id=first.remote_id,
                url=first.url,
            )
        return Outcome(final, "published")

    @staticmethod
    def _call(
        method: Callable[[Outgoing], Published | None],
        outgoing: Outgoing,
        *,
        part: int,
        finding: bool,
    ) -> Published | None:
        """Call the adapter; errors become ``_Failure`` with the part left in doubt (if any)."""
        try:
            return method(outgoing)
        except (RateLimitedError, AuthExpiredError, PermanentError) as exc:
            # The platform refused a publish: nothing went out. A refused find settles nothing.
            raise _Failure(exc, part if finding else None, finding=finding) from exc
        except Exception as exc:
            raise _Failure(exc, part, finding=finding) from exc

    # --- failures --------------------------------------------------------------------------

    def _failed(self, delivery: Delivery, token: str, failure: _Failure, reason: str) -> Outcome:
        error, now = failure.error, self.clock()
        publishing = self.config.publishing
        in_flight = failure.uncertain
        if failure.finding and delivery.in_flight == EVERY_PART:
            in_flight = EVERY_PART  # still no part proven absent: every later one is in doubt
        common: dict[str, Any] = {
            "token": token,
            "expect": [State.CLAIMED],
            "now": now,
            "claim_token": None,
            "in_flight": in_flight,
            "reason": reason,
        }
        if isinstance(error, RateLimitedError):
            until = error.until
            self.ledger.set_account(delivery.account, now=now, wait_until=until, wait_reason=reason)
            row = self.ledger.update(delivery.id, state=State.FAILED, retry_at=until, **common)
            return self._log(row, "retry", reason, retry_at=until, rate_limited=True)
        if isinstance(error, AuthExpiredError):
            self.ledger.set_account(delivery.account, now=now, paused_at=now, pause_reason=reason)
            self.events.emit(
                "paused",
                now=now,
                account=delivery.account,
                platform=delivery.platform,
                reason=reason,
            )
            log.error(
                "account %s paused: %s (after `klapper login %s`, run `klapper retry %s`)",
                delivery.account,
                reason,
                delivery.account,
                delivery.id,
            )
            if failure.uncertain is None and not self.ledger.parts(delivery.id):
                row = self.ledger.update(delivery.id, state=State.PLANNED, **common)
            else:
                row = self.ledger.update(delivery.id, state=State.FAILED, retry_at=now, **common)
            return Outcome(row, "paused")  # type: ignore[arg-type]
        attempts = delivery.attempts + 1
        unexpected = not isinstance(error, AdapterError)
        if unexpected and reason != delivery.reason:
            # One line per try (below); the traceback, maybe thousands of lines, once.
            log.debug("%s publishing %s:", type(error).__name__, delivery.id, exc_info=error)
        if (
            isinstance(error, PermanentError)
            or attempts > publishing.retries
            or (unexpected and attempts >= UNEXPECTED_TRIES)
        ):
            row = self.ledger.update(
                delivery.id, state=State.FAILED, retry_at=None, attempts=attempts, **common
            )
            return self._log(row, "failed", reason, attempts=attempts)
        hint = error.retry_after if isinstance(error, TransientError) else None
        retry_at = now + backoff(
            attempt=attempts,
            base=publishing.backoff,
            cap=publishing.max_backoff,
            rng=self.rng,
            hint=hint,
        )
        state = State.UNKNOWN if is_timeout(error) else State.FAILED
        row = self.ledger.update(
            delivery.id, state=state, retry_at=retry_at, attempts=attempts, **common
        )
        return self._log(
            row,
            "unknown" if state is State.UNKNOWN else "retry",
            reason,
            retry_at=retry_at,
            attempts=attempts,
        )

    def _log(self, row: Delivery | None, event: str, reason: str, **fields: object) -> Outcome:
        if row is None:
            raise ClaimLost("the claim was taken over before the outcome was recorded")
        shown = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()}
        self.events.emit(event, delivery=row, now=self.clock(), reason=reason, **shown)
        level = logging.ERROR if event == "failed" else logging.WARNING
        log.log(
            level,
            "%s %s to %s: %s%s",
            event,
            row.post_id,
            row.account,
            reason,
            f" (next try {row.retry_at.isoformat()})" if row.retry_at else "",
        )
        return Outcome(row, event)


def summarize(outcomes: Iterable[Outcome]) -> dict[str, int]:
    """Count outcomes by event, for `publish --due` and the daemon's STATUS line."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.event] = counts.get(outcome.event, 0) + 1
    return counts
