"""`klapper inbox reply`: answer an inbox item on its platform, exactly once.

The answer is a delivery in the ledger like a post's, keyed by the item and the text
(``answer_post_id``): planned, claimed before the platform is called, recorded once it is
out, and after a crash ``unknown`` until the adapter's ``find_reply`` settles it, so the
same answer never goes out twice and a second identical command says it was already sent.
Its text is kept beside the inbox (engagement's ``answers``) for the retry; the event log
has its ``published`` and ``answered`` lines, so a ledger rebuilt from the log keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass

from klapper.adapters.counting import count_text
from klapper.config.platforms import platform as describe
from klapper.config.platforms import registry
from klapper.engagement.store import Answer, EngagementStore, InboxItem
from klapper.ledger import ON_PLATFORM, Delivery, State
from klapper.ledger.states import answer_post_id
from klapper.queue import announced_rules
from klapper.queue.model import first_line_of
from klapper.queue.replies import saved_reply
from klapper.scheduler.engine import Engine
from klapper.scheduler.manual import Refused, why_not
from klapper.scheduler.publisher import Outcome


class Unanswerable(Exception):
    """The answer cannot go out as it is (too long, an answered item): exit 1, say why."""


@dataclass(frozen=True)
class ReplyResult:
    """What `klapper inbox reply` came to for one item."""

    item: InboxItem
    delivery: Delivery
    text: str
    outcome: Outcome | None = None
    already: bool = False  # this answer was on the platform before the command
    note: str | None = None  # why it was not even tried (a paused account ...)

    @property
    def ok(self) -> bool:
        return self.delivery.state in ON_PLATFORM

    def to_json(self) -> dict[str, object]:
        return {
            "item": self.item.id,
            "account": self.item.account,
            "platform": self.item.platform,
            "result": "already sent" if self.already else "sent" if self.ok else "failed",
            "delivery": self.delivery.id,
            "state": self.delivery.state.value,
            "remote_id": self.delivery.remote_id,
            "url": self.delivery.url,
            "reason": None if self.ok else self.note or self.delivery.reason,
            "text": self.text,
        }


def answer_text(engine: Engine, item: InboxItem, *, text: str | None, saved: str | None) -> str:
    """The answer as it goes out: ``text``, or the saved reply ``saved`` filled in for ``item``."""
    if saved is None:
        assert text is not None
        return text.strip("\n")
    reply = saved_reply(engine.repo, saved)
    account = engine.config.accounts.get(item.account)
    if account is not None and item.account not in reply.goes_to(engine.config):
        raise Unanswerable(
            f"saved reply {saved} ({reply.source.file}) is not for account {item.account}"
        )
    platform = describe(item.platform).title if account is not None else item.platform
    handle = item.author
    name = handle.lstrip("@").split("@")[0]
    return reply.fill(name=name, handle=handle, platform=platform, account=item.account)


def addressed(text: str, item: InboxItem) -> str:
    """The answer as it goes out: on a platform that notifies only mentioned accounts
    (``Platform.answer_mentions``), it starts with the author's handle unless it names them."""
    if item.platform not in registry() or not describe(item.platform).answer_mentions:
        return text
    handle = item.author if item.author.startswith("@") else f"@{item.author}"
    if handle.lower() in text.lower():
        return text
    return f"{handle} {text}"


def find_item(engine: Engine, item_id: str) -> InboxItem:
    """The inbox item ``item_id``; ``Refused`` when there is none (a usage error)."""
    found = EngagementStore(engine.ledger).inbox_items(ids=[item_id])
    if not found:
        raise Refused(f"no inbox item {item_id!r}; `klapper inbox` lists the ids")
    return found[0]


def send_reply(
    engine: Engine, item: InboxItem, *, text: str, saved: str | None = None, again: bool = False
) -> ReplyResult:
    """Answer ``item`` with ``text`` (once: see the module docstring)."""
    store = EngagementStore(engine.ledger)
    if item.by_self:
        raise Refused(f"{item.id} is an answer of account {item.account} itself")
    if item.account not in engine.config.accounts:
        raise Refused(f"account {item.account} of {item.id} is not in klapper.yaml any more")
    if engine.publisher is None:
        raise Refused("the repository could not be loaded; run `klapper check`")
    if not text.strip():
        raise Refused("the answer is empty")
    text = addressed(text, item)
    post_id = answer_post_id(item=item.id, text=text)
    now = engine.clock()
    row = engine.ledger.by_key(post_id=post_id, occurrence="", account=item.account)
    if row is not None and row.state in ON_PLATFORM:
        return ReplyResult(item, row, text, already=True)
    if row is None:
        if item.answered_at is not None and not again:
            raise Unanswerable(
                f"{item.id} was answered already ({item.answered_by or 'on the platform'});"
                " add --again to answer it once more"
            )
        _check_length(engine, item, text)
        row = engine.ledger.insert_planned(
            post_id=post_id,
            occurrence="",
            account=item.account,
            platform=item.platform,
            due=now,
            content_hash=post_id.rsplit("/", 1)[-1],
            slotted=False,
            source="inbox",
            first_line=first_line_of(text),
            now=now,
        )
    store.keep_answer(Answer(row.id, item.id, text, saved), now=now)
    if row.state is State.CLAIMED:
        raise Refused(f"this answer to {item.id} is being sent by another process right now")
    if row.state in (State.FAILED, State.UNKNOWN):
        # Asked again: due now; an answer in doubt is looked for before it is sent.
        engine.ledger.update(row.id, now=now, expect=[row.state], state=row.state, retry_at=now)
    elif row.state is not State.PLANNED:  # missed, cancelled, skipped: the person asks again
        engine.ledger.update(row.id, now=now, expect=[row.state], state=State.PLANNED, due=now)
    elif row.due != now:  # planned by a command that stopped before sending: due now
        engine.ledger.update(row.id, now=now, expect=[State.PLANNED], due=now)
    outcome = engine.publisher.publish(row.id)
    note = None if outcome is not None else why_not(engine, row)
    return ReplyResult(item, engine.ledger.get(row.id) or row, text, outcome=outcome, note=note)


def _check_length(engine: Engine, item: InboxItem, text: str) -> None:
    rules = announced_rules(engine.config, cache_dir=engine.state).get(item.account)
    if rules is None:
        return
    length = count_text(text, rules.counting)
    if length > rules.text_limit:
        raise Unanswerable(
            f"the answer is {length} characters; {describe(item.platform).title} takes at"
            f" most {rules.text_limit} (account {item.account})"
        )
