"""Due deliveries that a batch (`klapper publish --due`) did not send, each with why.

A batch publishes what it can claim; a due delivery it could not send must not vanish behind
"nothing due": its post's file is broken, its account is paused or waits out a rate limit, or
it is paused in klapper.yaml (the user's choice, which alone is no failure).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from klapper.config.model import Config
from klapper.ledger import AccountState, Delivery, Ledger
from klapper.queue.model import Post, Problem


@dataclass(frozen=True)
class Unsent:
    """A due delivery left waiting: ``event`` names the cause, ``reason`` says what to do."""

    delivery: Delivery
    event: str  # broken, paused, waiting
    reason: str
    fails: bool = True  # False for what the user chose (`paused: true` in klapper.yaml)


def unsent(
    *,
    ledger: Ledger,
    now: datetime,
    config: Config,
    posts: Mapping[str, Post],
    problems: Sequence[Problem],
    handled: Iterable[str],
    tz: tzinfo,
) -> list[Unsent]:
    """Deliveries due at ``now`` that are not among ``handled`` (ids with an outcome), with why.

    A delivery none of the causes explains (another process claimed it first) is left out.
    """
    done = set(handled)
    accounts = ledger.accounts()
    found = []
    for row in ledger.due(now=now):
        if row.id in done:
            continue
        why = _why(
            row,
            now=now,
            config=config,
            posts=posts,
            problems=problems,
            account=accounts.get(row.account),
            tz=tz,
        )
        if why is not None:
            found.append(why)
    return found


def _why(
    row: Delivery,
    *,
    now: datetime,
    config: Config,
    posts: Mapping[str, Post],
    problems: Sequence[Problem],
    account: AccountState | None,
    tz: tzinfo,
) -> Unsent | None:
    if account is not None and account.paused_at is not None:
        return Unsent(
            row,
            "paused",
            f"account {row.account} is paused: {account.pause_reason}; "
            f"after `klapper login {row.account}`, run "
            f"`klapper retry --account {row.account}`",
        )
    if account is not None and account.wait_until is not None and account.wait_until > now:
        until = account.wait_until.astimezone(tz)
        return Unsent(
            row, "waiting", f"account {row.account} is rate limited until {until:%Y-%m-%d %H:%M %Z}"
        )
    settings = config.accounts.get(row.account)
    if settings is not None and settings.paused:
        return Unsent(
            row, "paused", f"account {row.account} is paused in klapper.yaml", fails=False
        )
    if row.post_id not in posts:
        error = next(
            (
                p
                for p in problems
                if p.severity == "error" and (p.post == row.post_id or p.source.file == row.source)
            ),
            None,
        )
        where = f"{error.source}: {error.message}" if error else f"{row.source} has errors"
        return Unsent(
            row,
            "broken",
            f"{where}; fix the file (`klapper check`), it goes out "
            "if fixed within the catch-up window",
        )
    return None
