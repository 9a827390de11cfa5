"""The adapter contract: what every platform module provides, its limits as data, its errors.

Error tree (adapters raise these, translated from the client library's own with ``from exc``)::

    AdapterError                 anything a platform call can fail with
     +-- TransientError          try again later (5xx, timeout, dropped connection)
     |    +-- RateLimitedError   try again at ``until`` (this account only)
     +-- AuthExpiredError        the credential is expired or revoked: pause the account
     +-- PermanentError          this post can never go as it is (say why)
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

# Limits are data in each platform's description; adapters and their tests take them from here.
from klapper.config.platforms import Counting as Counting
from klapper.config.platforms import Rules as Rules

# --- errors ---------------------------------------------------------------------------------


class AdapterError(Exception):
    """A platform call failed; ``str(exc)`` is the platform's own reason, free of secrets."""


class TransientError(AdapterError):
    """Worth retrying; ``retry_after`` (seconds) when the platform said how long to wait."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimitedError(TransientError):
    """The account hit a rate limit that resets at ``until`` (aware UTC datetime).

    ``until`` is required: a platform that does not say when its limit resets gets the
    ``Retry-After`` answer or a default wait from ``http_errors.error_for``, never None.
    """

    def __init__(self, message: str, *, until: datetime) -> None:
        super().__init__(message)
        self.until = until


class AuthExpiredError(AdapterError):
    """The credential is missing, expired or revoked; ``missing_access`` when the tier lacks it."""

    def __init__(self, message: str, *, missing_access: str | None = None) -> None:
        super().__init__(message)
        # The endpoint the app's API tier does not include (the token itself may be fine).
        self.missing_access = missing_access


class PermanentError(AdapterError):
    """The platform refused this post for good (too long, duplicate, bad media ...)."""


# --- what goes out, what comes back ---------------------------------------------------------


@dataclass(frozen=True)
class MediaFile:
    """An image to attach: ``path`` is absolute and already checked to lie inside the repo."""

    path: Path
    alt: str | None = None
    mime: str | None = None


@dataclass(frozen=True)
class Published:
    """Where a post landed: the platform's id, a URL a person can open, when, and extra refs."""

    remote_id: str
    url: str | None = None
    published_at: datetime | None = None
    ref: Mapping[str, Any] = field(default_factory=dict)  # e.g. Bluesky's cid for replies

    def to_json(self) -> dict[str, Any]:
        return {
            "remote_id": self.remote_id,
            "url": self.url,
            "published_at": self.published_at.isoformat() if self.published_at else None,
            "ref": dict(self.ref),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Published:
        at = data.get("published_at")
        return cls(
            remote_id=data["remote_id"],
            url=data.get("url"),
            published_at=datetime.fromisoformat(at) if at else None,
            ref=dict(data.get("ref") or {}),
        )


@dataclass(frozen=True)
class ThreadRef:
    """Which post a follow-up answers: the thread's first part and the part just before."""

    root: Published
    parent: Published


@dataclass(frozen=True)
class Outgoing:
    """One part of a delivery, ready for one account; the unit ``publish`` takes.

    ``idempotency_key`` is derived from the delivery and the part index, never random, so a
    retry of the same part carries the same key. ``options`` holds per-platform settings
    (cw, visibility, lang, reply_settings ...) after ``per:`` overrides were applied.
    """

    text: str
    idempotency_key: str
    media: tuple[MediaFile, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    reply_to: ThreadRef | None = None
    post_id: str = ""
    part: int = 0  # 0 = the post itself, 1.. = thread follow-ups
    due: datetime | None = None  # aware UTC; `find` matches near this time
    delivery: str = ""  # the delivery's id (post, account, occurrence)
    #: the parts after this one (given with part 0), for platforms that take a thread at once
    followups: tuple[Outgoing, ...] = ()
    #: campaign tags (key -> value, no ``utm_``) for link targets, on platforms whose rules say
    #: ``link_tags="facets"``; elsewhere the links in ``text`` already carry them
    link_tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Metrics:
    """Reactions to one post at one moment. ``None`` means the platform does not say, never 0."""

    remote_id: str
    likes: int | None = None
    reposts: int | None = None
    replies: int | None = None
    quotes: int | None = None
    bookmarks: int | None = None
    views: int | None = None


@dataclass(frozen=True)
class Interaction:
    """A reply to one of our posts, a mention of the account, or a review of the place."""

    remote_id: str
    kind: Literal["reply", "mention", "review"]
    author: str  # handle as the platform shows it
    text: str
    url: str | None
    created_at: datetime  # aware UTC
    in_reply_to: str | None = None  # remote id of the post it answers
    by_self: bool = False  # written by the account itself (an answer of ours)
    rating: int | None = None  # a review's stars, 1 to 5


# --- the contract ---------------------------------------------------------------------------


class Adapter(abc.ABC):
    """One platform account. Constructed per account with its settings and secrets.

    ``settings`` are the account's non-secret entries from klapper.yaml (instance URL, text
    limit, outbox path ...); ``secrets`` its credentials (see config.secrets); ``repo`` the
    content repository root. Adapters know nothing of the scheduler or the ledger.
    Base URLs in ``settings`` (instance, service, ``api_base``) let tests reach fake servers.
    """

    platform: ClassVar[str]
    rules: ClassVar[Rules]

    def __init__(
        self,
        *,
        name: str,
        settings: Mapping[str, Any],
        secrets: Mapping[str, str],
        repo: Path,
        timeout: float = 30.0,
        save_secrets: Callable[[Mapping[str, str]], None] | None = None,
    ) -> None:
        self.name = name
        self.settings = dict(settings)
        self.secrets = dict(secrets)
        self.repo = repo
        self.timeout = timeout
        # Called with the full, updated secrets after a token refresh, to persist them.
        self._save_secrets = save_secrets

    def update_secrets(self, **changed: str) -> None:
        """Keep refreshed credentials (in memory and, where possible, in the secrets store)."""
        self.secrets.update(changed)
        if self._save_secrets is not None:
            self._save_secrets(dict(self.secrets))

    def effective_rules(self) -> Rules:
        """The rules for this account (an account may lower or raise the text limit)."""
        limit = self.settings.get("text_limit")
        if limit:
            return replace(self.rules, text_limit=int(limit))
        return self.rules

    @abc.abstractmethod
    def publish(self, post: Outgoing) -> Published:
        """Publish one part; raise an ``AdapterError`` subclass on failure."""

    @abc.abstractmethod
    def find(self, post: Outgoing) -> Published | None:
        """Look for ``post`` on the platform (after a crash or timeout); None if proven absent.

        Raise ``TransientError`` when the answer is not known (the platform did not reply):
        an unproven absence must never lead to a second post.
        """

    def metrics(self, remote_ids: Sequence[str]) -> list[Metrics]:
        """Reactions for many posts, batched as the API allows. Default: none known."""
        return []

    def metrics_per_request(self) -> int | None:
        """How many posts one ``metrics`` request reads for this account now; None: the
        platform's batch size. It may shrink once the adapter learns what a server lacks."""
        return None

    def requests_sent(self) -> int | None:
        """How many HTTP requests this adapter has sent so far; None when it does not count
        them (then each ``metrics`` call counts as one request)."""
        return None

    def interactions(self, *, since: datetime, own_ids: Sequence[str]) -> list[Interaction]:
        """Replies to ``own_ids`` and mentions of the account since ``since``. Default: none."""
        return []

    # --- answering the inbox --------------------------------------------------------------

    def reply_target(self, item: Interaction) -> ThreadRef:
        """Where an answer to ``item`` (a reply, mention or review in the inbox) goes.

        Default: the item is both root and parent (Mastodon's and X's ``in_reply_to``, a
        comment on the item on LinkedIn and Facebook). A platform whose replies need more of
        the item (Bluesky's cids and thread root) asks the platform here.
        """
        answered = Published(remote_id=item.remote_id, url=item.url)
        return ThreadRef(root=answered, parent=answered)

    def reply(self, answer: Outgoing) -> Published:
        """Publish ``answer`` as a reply to ``answer.reply_to`` (from ``reply_target``).

        Default: ``publish`` with ``reply_to``. A platform whose answers are no posts (a
        review reply, a comment reply) overrides it; one that cannot answer raises
        ``PermanentError`` saying so in one line.
        """
        return self.publish(answer)

    def find_reply(self, answer: Outgoing) -> Published | None:
        """``find`` for an answer (after a crash or timeout): None only if proven absent."""
        return self.find(answer)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


# --- reviews --------------------------------------------------------------------------------

STAR, NO_STAR = "\u2605", "\u2606"  # ★ ☆


def review_text(*, rating: int | None, comment: str) -> str:
    """A review as the inbox shows it: its stars first (★★★★☆), then its words.

    Kept in the text, the stars show wherever the item does (inbox, alerts, exports); the
    rating itself is kept in a column of its own (``Interaction.rating``, ``inbox.rating``).
    """
    if rating is None:
        return comment
    return f"{STAR * rating}{NO_STAR * (5 - rating)} {comment}".rstrip()
