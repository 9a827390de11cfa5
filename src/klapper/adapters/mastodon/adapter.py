"""Mastodon, and servers speaking its API (GoToSocial, Takahē, Pleroma), through Mastodon.py.

Token: ``klapper login ACCOUNT`` registers klapper as an app on the instance (scopes read and
write) and stores ``access_token``; or create an application in the web interface (Preferences >
Development, scopes read and write) and give its token as KLAPPER_<ACCOUNT>_ACCESS_TOKEN.
Settings: ``instance`` (URL), optional ``text_limit``, ``visibility``, and ``cache_dir`` (a state
folder where the instance's limits are kept for `klapper check`, see ``cached_rules``).
"""

from __future__ import annotations

import hashlib
import mimetypes
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
from mastodon import Mastodon
from mastodon.errors import MastodonError

from klapper.adapters.base import (
    Adapter,
    AdapterError,
    AuthExpiredError,
    Interaction,
    MediaFile,
    Metrics,
    Outgoing,
    PermanentError,
    Published,
    Rules,
    TransientError,
)
from klapper.adapters.identity import checked, is_checked, mismatch_error, same_name
from klapper.adapters.mastodon import PLATFORM
from klapper.adapters.mastodon.http import (
    CountingSession,
    NotFoundError,
    RefusedError,
    make_client,
    read_instance,
    refusal,
    translate,
)
from klapper.adapters.mastodon.limits import (
    LimitsCache,
    cached_rules,
    html_to_text,
    local_mentions,
    rules_from_limits,
)
from klapper.adapters.matching import find_since, same_text
from klapper.config.secrets import redact, scrub_exception, secret_values

__all__ = ["MastodonAdapter", "cached_rules", "idempotency_header", "instance_url"]

T = TypeVar("T")

BATCH_SIZE = 20  # GET /api/v1/statuses?id[]= takes at most 20 ids (Mastodon 4.3+)
PAGE_SIZE = 40  # the most statuses or notifications Mastodon returns per page
FIND_PAGES = 5  # `find` reads at most this many pages of the account's own statuses
INBOX_PAGES = 10  # `interactions` reads at most this many pages per call


class MastodonAdapter(Adapter):
    """One Mastodon account on one instance."""

    platform = "mastodon"
    rules = PLATFORM.rules

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._client: Mastodon | None = None
        self._session: CountingSession | None = None
        self._me: dict[str, Any] | None = None
        self._limits_cache: LimitsCache | None = None

    # --- settings ----------------------------------------------------------------------------

    @property
    def instance_url(self) -> str:
        """The instance's base URL, from ``instance`` or else the domain of ``handle``."""
        url = instance_url(
            instance=self.settings.get("instance"), handle=self.settings.get("handle")
        )
        if url is None:
            raise PermanentError(
                f"account {self.name!r} has no instance; add `instance: https://your.server`"
                " to it in klapper.yaml"
            )
        return url

    @property
    def _cache(self) -> LimitsCache:
        if self._limits_cache is None:
            self._limits_cache = LimitsCache(
                instance=self.instance_url, folder=self.settings.get("cache_dir")
            )
        return self._limits_cache

    def _http(self) -> CountingSession:
        if self._session is None:
            self._session = CountingSession()
        return self._session

    def _api(self) -> Mastodon:
        if self._client is None:
            token = self.secrets.get("access_token")
            if not token:
                raise AuthExpiredError(
                    f"account {self.name!r} has no access_token; run `klapper login {self.name}`"
                )
            # The version as last read (publish reads it when stale); reading reactions
            # never asks the instance for it.
            version = (self._cache.load() or {}).get("version")
            self._client = make_client(
                base=self.instance_url,
                version=version,
                session=self._http(),
                timeout=self.timeout,
                access_token=token,
            )
        return self._client

    def requests_sent(self) -> int:
        """Every HTTP request this account's adapter sent (for the reading budget)."""
        return self._http().sent

    # --- calls and their errors --------------------------------------------------------------

    def _call(self, what: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call Mastodon.py to do ``what`` and translate its exceptions into klapper's (free of
        secrets)."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # deprecation notes about endpoints we chose
                return function(*args, **kwargs)
        except (MastodonError, ValueError) as exc:
            secrets = secret_values(self.secrets)
            scrub_exception(exc, secrets)
            error = self._translate(exc, what)
            error.args = tuple(redact(str(a), secrets) for a in error.args)
            raise error from exc

    def _translate(self, exc: MastodonError | ValueError, what: str) -> AdapterError:
        return translate(
            exc,
            host=self.instance_url.split("://", 1)[-1],
            account=self.name,
            action=what,
            session=self._http(),
        )

    # --- limits ------------------------------------------------------------------------------

    def _limits(self, *, refresh: bool = False) -> dict[str, Any] | None:
        """The instance's limits: from memory, the cache file, or /api/v2/instance."""
        known = self._cache.load()
        if known is not None and not refresh:
            return known
        try:
            info = self._instance_info()
        except AdapterError:
            return known  # offline: an old answer is better than none
        return self._cache.store(info)

    def _instance_info(self) -> dict[str, Any]:
        host = self.instance_url.split("://", 1)[-1]
        try:
            return read_instance(
                session=self._http(),
                base=self.instance_url,
                token=self.secrets.get("access_token"),
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise TransientError(f"{host} did not answer ({type(exc).__name__})") from exc
        except RefusedError as exc:
            said = redact(exc.said, secret_values(self.secrets))
            raise refusal(
                status=exc.status,
                said=said,
                host=host,
                account=self.name,
                action="read the instance's limits",
                headers=exc.headers,
            ) from exc

    def effective_rules(self) -> Rules:
        """The instance's own limits once known (account ``text_limit`` still wins)."""
        try:
            limits = self._limits()
        except AdapterError:  # e.g. no token yet: the published defaults
            limits = None
        rules = rules_from_limits(self.rules, limits)
        if self.settings.get("text_limit"):
            return rules_from_limits(rules, {"text_limit": int(self.settings["text_limit"])})
        return rules

    # --- publish -----------------------------------------------------------------------------

    def check_identity(self) -> None:
        """The token only for the instance and handle klapper.yaml names (adapters.identity)."""
        known = is_checked(self.secrets, credential="access_token")
        stored = f"@{self.secrets.get('acct')} on {self.secrets.get('instance')}"
        if known and self.secrets.get("instance", self.instance_url) != self.instance_url:
            raise mismatch_error(
                account=self.name, platform="Mastodon", stored=stored, named=self.instance_url
            )  # before the token goes anywhere
        if not (known and self.secrets.get("account_id")):
            me = self._account()  # one verify_credentials call, then recorded
            self.update_secrets(
                **checked(
                    self.secrets,
                    credential="access_token",
                    instance=self.instance_url,
                    account_id=str(me["id"]),
                    acct=str(me["acct"]),
                )
            )
        named = str(self.settings.get("handle") or "").lstrip("@").split("@")[0]
        if named and not same_name(named, self.secrets.get("acct")):
            raise mismatch_error(
                account=self.name,
                platform="Mastodon",
                named=f"@{named}",
                stored=f"@{self.secrets.get('acct')} on {self.instance_url}",
            )

    def publish(self, post: Outgoing) -> Published:
        self.check_identity()  # first: no request before it knows whose token this is
        if self._cache.stale():
            # Keeps `klapper check` current and tells Mastodon.py the version; failures
            # don't matter (the last answer, else a safe default, is used).
            self._limits(refresh=True)
            self._client = None  # built again with the version just read (no request)
        client = self._api()
        media_ids = [self._upload(item) for item in post.media]
        options = post.options
        visibility = options.get("visibility") or self.settings.get("visibility")
        status = self._call(
            "publish the post",
            client.status_post,
            post.text,
            in_reply_to_id=post.reply_to.parent.remote_id if post.reply_to else None,
            media_ids=media_ids or None,
            spoiler_text=options.get("cw") or None,
            visibility=str(visibility) if visibility else None,
            language=options.get("lang") or None,
            idempotency_key=idempotency_header(post.idempotency_key),
        )
        return _published(status)

    def _upload(self, item: MediaFile) -> str:
        """Upload one image and wait (at most the adapter's timeout) until it is processed."""
        client = self._api()
        mime = item.mime or mimetypes.guess_type(item.path.name)[0] or "application/octet-stream"
        deadline = time.monotonic() + self.timeout
        try:
            handle = item.path.open("rb")  # opened here so that it is closed again
        except OSError as exc:
            raise PermanentError(f"cannot read the image {item.path}: {exc.strerror}") from exc
        with handle:
            media = self._call(
                f"upload {item.path.name}",
                client.media_post,
                handle,
                mime_type=mime,
                file_name=item.path.name,
                description=item.alt or None,
            )
        pause = 0.05
        while media.get("url") is None:  # v2 uploads are processed asynchronously
            left = deadline - time.monotonic()
            if left <= 0:
                raise TransientError(
                    f"the instance was still processing {item.path.name} after"
                    f" {self.timeout:g} s; try again later"
                )
            time.sleep(min(pause, left))
            pause = min(pause * 2, 1.0)
            media = self._call(f"process {item.path.name}", client.media, media["id"])
        return str(media["id"])

    # --- find --------------------------------------------------------------------------------

    def find(self, post: Outgoing) -> Published | None:
        """Look through the account's own recent statuses for this text near its due time.

        The Idempotency-Key alone is not proof: GoToSocial and Takahē ignore it.
        """
        since = find_since(post.due)
        parent = post.reply_to.parent.remote_id if post.reply_to else None
        # A server may cap pages below PAGE_SIZE: a short page means "no more" only after the
        # server filled one to PAGE_SIZE.
        honours_limit = False
        for page in self._own_pages(pages=FIND_PAGES):
            for status in page:
                if since and _created(status) < since:
                    continue
                if parent and str(status.get("in_reply_to_id")) != parent:
                    continue
                if same_text(
                    html_to_text(status.get("content") or ""), post.text, shown_as=local_mentions
                ):
                    return _published(status)
            if not page or (since and _created(page[-1]) < since):
                return None  # read back past the due time (or to the first post): absent
            if honours_limit and len(page) < PAGE_SIZE:
                return None  # a short page after full ones: the account's first post was read
            honours_limit = honours_limit or len(page) == PAGE_SIZE
        raise TransientError(
            f"cannot tell whether {post.post_id or 'the post'} went out: more than"
            f" {FIND_PAGES * PAGE_SIZE} statuses to look through; check the account by hand"
        )

    def _own_pages(self, *, pages: int) -> Iterator[list[dict[str, Any]]]:
        client = self._api()
        me = self._account()["id"]
        max_id = None
        for _ in range(pages):
            page = list(
                self._call(
                    "read the account's statuses",
                    client.account_statuses,
                    me,
                    limit=PAGE_SIZE,
                    max_id=max_id,
                    exclude_reblogs=True,
                )
            )
            yield page
            if not page:
                return
            max_id = page[-1]["id"]

    def _account(self) -> dict[str, Any]:
        if self._me is None:
            self._me = dict(self._call("read the account", self._api().account_verify_credentials))
        return self._me

    # --- metrics -----------------------------------------------------------------------------

    def metrics(self, remote_ids: Sequence[str]) -> list[Metrics]:
        """Counts for many statuses: 20 per request on Mastodon 4.3+, else one by one.

        A server without the batch lookup although its version promises one (it answers 404
        or 405) is remembered in the state folder and this call raises ``TransientError``:
        ``metrics_per_request`` then says 1, so a caller's request budget holds.
        """
        ids = list(dict.fromkeys(str(i) for i in remote_ids))
        api = self._api()
        statuses: list[dict[str, Any]] = []
        if ids and self._has_batch_lookup():
            try:
                for start in range(0, len(ids), BATCH_SIZE):
                    statuses += self._call(
                        "read reactions", api.statuses, ids[start : start + BATCH_SIZE]
                    )
            except NotFoundError as exc:
                if statuses:
                    raise
                self._cache.note(batch_lookup=False)
                raise TransientError(
                    f"{self.instance_url.split('://', 1)[-1]} has no batch lookup ({exc});"
                    " reading one post per request from now on",
                    retry_after=0,
                ) from exc
            return [_metrics(s) for s in statuses]
        for remote_id in ids:
            try:
                statuses.append(self._call("read reactions", api.status, remote_id))
            except NotFoundError:
                continue  # deleted: nothing to count
        return [_metrics(s) for s in statuses]

    def metrics_per_request(self) -> int:
        """Statuses one metrics request reads: 20 with the batch lookup, else 1."""
        return BATCH_SIZE if self._has_batch_lookup() else 1

    def _has_batch_lookup(self) -> bool:
        limits = self._cache.load() or {}  # no request: unknown means try it (and learn)
        return bool(limits.get("batch_lookup", True))

    # --- interactions ------------------------------------------------------------------------

    def interactions(self, *, since: datetime, own_ids: Sequence[str]) -> list[Interaction]:
        """Mentions since ``since`` (a reply when it answers one of ``own_ids``), and the
        account's own answers to others (``by_self``)."""
        client = self._api()
        me = str(self._account()["id"])
        own = {str(i) for i in own_ids}
        found: list[Interaction] = []
        max_id = None
        for _ in range(INBOX_PAGES):
            page = list(
                self._call(
                    "read mentions",
                    client.notifications,
                    types=["mention"],
                    limit=PAGE_SIZE,
                    max_id=max_id,
                )
            )
            for note in page:
                if note.get("type") == "mention" and note.get("status") and _created(note) >= since:
                    found.append(_interaction(note["status"], own=own, me=me))
            if not page or _created(page[-1]) < since:
                break
            max_id = page[-1]["id"]
        for page in self._own_pages(pages=INBOX_PAGES):
            for status in page:
                answered = status.get("in_reply_to_account_id")
                if _created(status) >= since and answered and str(answered) != me:
                    found.append(_interaction(status, own=own, me=me))
            if not page or _created(page[-1]) < since:
                break
        return sorted(found, key=lambda i: i.created_at)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()  # the client's session too
        self._client, self._session = None, None


def instance_url(*, instance: str | None, handle: str | None = None) -> str | None:
    """An instance's base URL from a setting (``example.social`` or a URL) or ``@me@host``."""
    url = str(instance or "").strip()
    bare = str(handle or "").strip().lstrip("@")
    if not url and "@" in bare:
        url = bare.split("@", 1)[1]
    if not url:
        return None
    return (url if "://" in url else f"https://{url}").rstrip("/")


def idempotency_header(key: str) -> str:
    """The Idempotency-Key header for a delivery part: stable, ASCII, of bounded length."""
    return "klapper-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def _created(item: dict[str, Any]) -> datetime:
    value: datetime | str = item["created_at"]
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _published(status: dict[str, Any]) -> Published:
    return Published(
        remote_id=str(status["id"]),
        url=status.get("url") or status.get("uri"),
        published_at=_created(status),
    )


def _metrics(status: dict[str, Any]) -> Metrics:
    return Metrics(
        remote_id=str(status["id"]),
        likes=status.get("favourites_count"),
        reposts=status.get("reblogs_count"),
        replies=status.get("replies_count"),
        quotes=status.get("quotes_count"),
        views=None,  # Mastodon counts no views
    )


def _interaction(status: dict[str, Any], *, own: set[str], me: str) -> Interaction:
    parent = status.get("in_reply_to_id")
    author = status.get("account") or {}
    by_self = str(author.get("id")) == me
    answers = parent is not None and (by_self or str(parent) in own)
    return Interaction(
        remote_id=str(status["id"]),
        kind="reply" if answers else "mention",
        author=f"@{author.get('acct', '')}",
        text=html_to_text(status.get("content") or ""),
        url=status.get("url") or status.get("uri"),
        created_at=_created(status),
        in_reply_to=str(parent) if parent is not None else None,
        by_self=by_self,
    )
