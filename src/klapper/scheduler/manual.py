"""What a person asks for by hand: publish one post now, retry or skip one delivery."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime

from klapper.ledger import Delivery, State
from klapper.scheduler.accounts import resume_account
from klapper.scheduler.engine import Engine
from klapper.scheduler.publisher import Outcome, Publisher
from klapper.scheduler.sync import RepositoryBroken


class Refused(Exception):
    """The request cannot be carried out; the message says why and what to do instead."""


@dataclass(frozen=True)
class Result:
    """One delivery's answer to a manual command: an outcome, or a reason nothing happened."""

    delivery: Delivery
    outcome: Outcome | None = None
    note: str | None = None
    done: bool = False  # what was asked is done without publishing (planned again)

    @property
    def ok(self) -> bool:
        if self.outcome:
            return self.outcome.ok
        return self.done or self.delivery.state in (State.PUBLISHED, State.EDITED, State.SKIPPED)


def resolve(
    engine: Engine, target: str, *, account: str | None = None, open_only: bool = False
) -> list[Delivery]:
    """DELIVERY as `klapper status` shows it, or a post id (plus ``account`` to pick one)."""
    row = engine.ledger.get(target)
    if row is not None:
        return [row]
    rows = engine.ledger.for_post(target, account=account)
    if not rows:
        raise Refused(
            f"no delivery or post {target!r} in the ledger; `klapper status` lists "
            "delivery ids, `klapper plan` lists post ids"
        )
    if open_only:
        # A repeating post: the earliest occurrence still open, per account.
        earliest: dict[str, Delivery] = {}
        for row in rows:
            if row.state not in (State.PUBLISHED, State.EDITED, State.CANCELLED, State.SKIPPED):
                earliest.setdefault(row.account, row)
        rows = list(earliest.values()) or rows[-1:]
    return rows


def _publisher(engine: Engine) -> Publisher:
    """The engine's publisher, once the repository loaded."""
    if engine.publisher is None:
        raise Refused("the repository could not be loaded; run `klapper check`")
    return engine.publisher


def publish_post(engine: Engine, post_id: str, *, account: str | None, now: bool) -> list[Result]:
    """`klapper publish POST`: each of its deliveries that is due (or all of them, ``now``)."""
    publisher = _publisher(engine)
    results = []
    moment = engine.clock()
    for row in resolve(engine, post_id, account=account, open_only=True):
        if row.state in (State.PUBLISHED, State.EDITED):
            results.append(Result(row, note=f"already published ({row.url or row.remote_id})"))
            continue
        if row.state in (State.CANCELLED, State.SKIPPED, State.CLAIMED):
            results.append(Result(row, note=f"{row.state.value}: {row.reason or 'nothing to do'}"))
            continue
        waiting_until = row.due if row.state is State.PLANNED else row.retry_at
        if waiting_until is not None and waiting_until > moment and not now:
            local = waiting_until.astimezone(engine.config.tz)
            results.append(
                Result(
                    row,
                    note=f"not due until {local:%Y-%m-%d %H:%M %Z}; add --now to publish it now",
                )
            )
            continue
        if row.state is State.MISSED and not now:
            results.append(Result(row, note="missed; add --now (or `klapper retry`) to send it"))
            continue
        if row.state is State.PLANNED:
            engine.ledger.update(row.id, now=moment, expect=[State.PLANNED], due=moment)
        elif row.state in (State.FAILED, State.UNKNOWN, State.MISSED):
            target = State.UNKNOWN if row.state is State.UNKNOWN else State.FAILED
            engine.ledger.update(
                row.id, now=moment, expect=[row.state], state=target, retry_at=moment
            )
        results.append(_attempt(engine, publisher, row))
    return results


def retry(
    engine: Engine, target: str | None, *, account: str | None, now: bool = False
) -> list[Result]:
    """`klapper retry`: un-pause the account, reset the delivery's retries, publish it now.

    A skipped delivery whose time is still ahead goes back to its planned time (``now``
    publishes it at once): undoing a skip must not move a post earlier.
    """
    publisher = _publisher(engine)
    moment = engine.clock()
    if target is None:
        if account is None:
            raise Refused("say which delivery (as `klapper status` shows it) or --account")
        assert engine.events is not None
        if not resume_account(
            ledger=engine.ledger, events=engine.events, account=account, now=moment
        ):
            raise Refused(f"account {account} is not paused")
        due = [d for d in engine.ledger.claimable(now=moment) if d.account == account]
        return [_attempt(engine, publisher, d) for d in due]
    results = []
    for row in resolve(engine, target, account=account, open_only=True):
        assert engine.events is not None
        resume_account(ledger=engine.ledger, events=engine.events, account=row.account, now=moment)
        if row.state in (State.PUBLISHED, State.EDITED):
            raise Refused(
                f"{row.id} was published ({row.url or row.remote_id}); "
                "klapper never posts a delivery twice"
            )
        if row.state in (State.CANCELLED, State.CLAIMED):
            raise Refused(f"{row.id} is {row.state.value}: {row.reason or 'being published'}")
        ahead = row.state in (State.PLANNED, State.SKIPPED) and row.due > moment
        if ahead and not now:
            results.append(_replan(engine, row, moment))
            continue
        if row.state is State.PLANNED:
            if ahead:  # --now: due at once, as `klapper publish POST --now` does
                engine.ledger.update(row.id, now=moment, expect=[State.PLANNED], due=moment)
        else:
            state = State.UNKNOWN if row.state is State.UNKNOWN else State.FAILED
            engine.ledger.update(
                row.id, now=moment, expect=[row.state], state=state, retry_at=moment, attempts=0
            )
            engine.events.emit("retry", delivery=row, now=moment, by="user")
        results.append(_attempt(engine, publisher, row))
    return results


def _attempt(engine: Engine, publisher: Publisher, row: Delivery) -> Result:
    """Publish ``row`` now; the result shows the delivery as it is after, not as it was."""
    outcome = publisher.publish(row.id)
    return Result(
        engine.ledger.get(row.id) or row,
        outcome=outcome,
        note=None if outcome else why_not(engine, row),
    )


def _replan(engine: Engine, row: Delivery, moment: datetime) -> Result:
    """A delivery whose time is ahead waits for it: a skipped one is planned again."""
    skipped = row.state is State.SKIPPED
    if skipped:
        planned = engine.ledger.update(
            row.id,
            now=moment,
            expect=[State.SKIPPED],
            state=State.PLANNED,
            reason=None,
            retry_at=None,
            attempts=0,
        )
        if planned is None:
            raise Refused(f"{row.id} changed meanwhile; look again")
        assert engine.events is not None
        engine.events.emit("retry", delivery=planned, now=moment, by="user")
        # The sync brings a post edited while it was skipped up to date; if klapper.yaml broke
        # meanwhile, the row stays planned and a later sync updates it.
        with contextlib.suppress(RepositoryBroken):
            engine.reload()
        row = engine.ledger.get(row.id) or planned
    if row.state is not State.PLANNED:  # the sync found its post gone or moved
        return Result(row, note=f"{row.state.value}: {row.reason or 'not planned'}")
    local = row.due.astimezone(engine.config.tz)
    return Result(
        row,
        done=skipped,
        note=f"planned for {local:%Y-%m-%d %H:%M %Z}; add --now to publish it now",
    )


def skip(engine: Engine, target: str, *, account: str | None) -> list[Delivery]:
    """`klapper skip`: this delivery will not go out (until `klapper retry`)."""
    skipped = []
    moment = engine.clock()
    for row in resolve(engine, target, account=account, open_only=True):
        if row.state not in (State.PLANNED, State.FAILED, State.UNKNOWN, State.MISSED):
            raise Refused(
                f"{row.id} is {row.state.value}; only planned, failed, unknown or "
                "missed deliveries can be skipped"
            )
        done = engine.ledger.update(
            row.id,
            now=moment,
            expect=[row.state],
            state=State.SKIPPED,
            retry_at=None,
            reason="skipped by the user",
        )
        if done is None:
            raise Refused(f"{row.id} changed meanwhile (being published?); look again")
        assert engine.events is not None
        engine.events.emit("skipped", delivery=done, now=moment)
        skipped.append(done)
    return skipped


def why_not(engine: Engine, row: Delivery) -> str:
    current = engine.ledger.get(row.id) or row
    account = engine.ledger.accounts().get(row.account)
    if account and account.paused_at:
        return f"account {row.account} is paused: {account.pause_reason}"
    if account and account.wait_until and account.wait_until > engine.clock():
        until = account.wait_until.astimezone(engine.config.tz)
        return f"account {row.account} is rate limited until {until:%Y-%m-%d %H:%M %Z}"
    if row.account in engine.config.accounts and engine.config.accounts[row.account].paused:
        return f"account {row.account} is paused in klapper.yaml"
    return f"{current.state.value}: {current.reason or 'not claimable now'}"
