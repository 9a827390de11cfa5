"""X (Twitter): posts through tweepy's v2 Client, images through X's v2 media endpoint.

Getting a token: create a Project and an App at developer.x.com; under "User authentication
settings" choose read and write permissions, type "Native App" (public client) or "Web App"
(confidential), and the callback URL http://127.0.0.1:8914/callback. Then run
``klapper login NAME`` for the account's name in klapper.yaml and choose the browser (OAuth 2.0
with PKCE; klapper keeps the refresh token and renews the 2-hour access token itself), or paste
the App's OAuth 1.0a consumer keys and the account's access token and secret.
Settings: ``handle`` from klapper.yaml (for post URLs; else the username stored at login).
``api_base`` and ``query_limit`` (the search query length of the API tier: 512 on Basic, 4096
on Pro) are adapter settings with those defaults; klapper.yaml has no key for them yet.
"""

from __future__ import annotations

import functools
import html
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import requests
import tweepy

from klapper.adapters.base import (
    Adapter,
    AdapterError,
    AuthExpiredError,
    Interaction,
    Metrics,
    Outgoing,
    PermanentError,
    Published,
    TransientError,
)
from klapper.adapters.http_errors import renew_once
from klapper.adapters.identity import carried, checked, is_checked, mismatch_error, same_name
from klapper.adapters.matching import comparable, find_since, same_text
from klapper.adapters.x import PLATFORM
from klapper.adapters.x import media as x_media
from klapper.adapters.x.auth import XAuth
from klapper.adapters.x.http import (
    API_BASE,
    XSession,
    check,
    error_from_exception,
    quiet_library_debug_logs,
)

T = TypeVar("T")

LOOKUP_BATCH = 100  # GET /2/tweets takes at most 100 ids
PAGE_SIZE = 100  # the most results per page timelines and search give
MAX_PAGES = 10  # a scan this deep means something else is wrong: stop and say so
SEARCH_WINDOW = timedelta(days=7) - timedelta(minutes=1)  # recent search reaches 7 days back
_TWEET_FIELDS = ["created_at", "author_id", "conversation_id", "referenced_tweets"]
_PRIVATE_METRICS = ["non_public_metrics", "organic_metrics"]
# X turns every link (also a bare example.com) into a t.co link and appends one for media.
_URLISH = re.compile(r"https?://\S+|(?<![\w@.])(?:[\w-]+\.)+[a-z]{2,}(?:/\S*)?", re.IGNORECASE)


def shown_by_x(text: str) -> str:
    """Text as X shows it, links aside: X rewrites every link to t.co and escapes & < >."""
    return _URLISH.sub(" ", html.unescape(text))


def comparable_text(text: str) -> str:
    """Text as X and klapper can both agree on: no links, unescaped, NFC, single spaces."""
    return comparable(text, shown_as=shown_by_x)


class XAdapter(Adapter):
    """One X account, with OAuth 2.0 user tokens (auto-refreshed) or OAuth 1.0a user keys."""

    platform = "x"
    rules = PLATFORM.rules

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        quiet_library_debug_logs()
        self.api_base = str(self.settings.get("api_base") or API_BASE).rstrip("/")
        self._query_limit = int(self.settings.get("query_limit") or 512)
        self._session = XSession(timeout=self.timeout)
        self._auth = XAuth(
            account=self.name,
            secrets=self.secrets,
            on_refresh=self._keep_token,
            timeout=self.timeout,
            api_base=self.api_base,
        )
        self._tweepy: tweepy.Client | None = None
        self._me: Mapping[str, Any] | None = None
        self._private_metrics = True  # until X says this token may not read them
        self._identity_ok = False  # checked once per adapter, before the first post or lookup

    # --- plumbing ---------------------------------------------------------------------------

    def mount(self, prefix: str, transport: requests.adapters.BaseAdapter) -> None:
        """Route requests whose URL starts with ``prefix`` through ``transport`` (a proxy ...).

        Covers every session the adapter uses: tweepy's (host https://api.twitter.com), the
        media upload's and the token refresh's (``api_base``).
        """
        for session in (self._session, self._auth.token_session):
            session.mount(prefix, transport)

    def close(self) -> None:
        self._session.close()
        self._auth.token_session.close()

    @property
    def _client(self) -> tweepy.Client:
        if self._tweepy is None:
            self._tweepy = self._auth.tweepy_client(self._session)
        return self._tweepy

    def _keep_token(self, changed: dict[str, str]) -> None:
        self.update_secrets(**carried(self.secrets, changed, credential="access_token"))
        if self._tweepy is not None:
            self._tweepy.bearer_token = changed["access_token"]

    def _refresh(self, *, failed_token: str | None = None) -> bool:
        try:
            return self._auth.refresh(failed_token=failed_token)
        except Exception as exc:
            raise error_from_exception(
                exc, action="renew the access token", account=self.name, timeout=self.timeout
            ) from exc

    def _call(self, action: str, fn: Callable[[], T]) -> T:
        """Run one X call: renew a token about to run out; on a 401 renew once and retry."""
        if self._auth.expires_soon():
            self._refresh()
        token = self.secrets.get("access_token")
        try:
            # requests-oauthlib refreshes only by the clock; X may revoke a token earlier.
            return renew_once(
                fn, renew=lambda: self._refresh(failed_token=token), refused=_unauthorized
            )
        except AdapterError:
            raise
        except Exception as exc:
            raise error_from_exception(
                exc, action=action, account=self.name, timeout=self.timeout
            ) from exc

    def _request(self, method: str, path: str, *, action: str, **kwargs: Any) -> dict[str, Any]:
        """One of klapper's own calls to ``api_base`` (media upload), JSON body back."""

        def send() -> dict[str, Any]:
            response = check(
                self._session.request(
                    method, self.api_base + path, auth=self._auth.requests_auth(), **kwargs
                )
            )
            return response.json() if response.content else {}

        return self._call(action, send)

    def _tweepy_call(self, action: str, method: str, *args: Any, **params: Any) -> dict[str, Any]:
        call = functools.partial(
            getattr(self._client, method), *args, user_auth=self._auth.user_auth, **params
        )
        return self._call(action, call)

    def whoami(self) -> Mapping[str, Any]:
        """The account the credentials belong to: X's ``id``, ``username`` and ``name``."""
        if self._me is None:
            answer = self._tweepy_call("read the account (users/me)", "get_me")
            self._me = answer["data"]
        return self._me

    def check_identity(self) -> None:
        """Go on only as the account klapper.yaml names (see ``adapters.identity``).

        An unchecked token (from the environment, or stored before klapper kept identities)
        costs one users/me call, whose answer is recorded; a stored username that differs from
        klapper.yaml's handle is asked again (X usernames can change) before the account pauses.
        """
        if self._identity_ok:
            return
        stored = is_checked(self.secrets, credential="access_token") and bool(
            self.secrets.get("user_id")
        )
        named = str(self.settings.get("handle") or "").lstrip("@")
        if not stored or (named and not same_name(named, self.secrets.get("username"))):
            self._me = None
            me = self.whoami()
            self.update_secrets(
                **checked(
                    self.secrets,
                    credential="access_token",
                    user_id=str(me["id"]),
                    username=str(me["username"]),
                )
            )
        if named and not same_name(named, self.secrets.get("username")):
            raise mismatch_error(
                account=self.name,
                platform="X",
                named=f"@{named}",
                stored=f"@{self.secrets.get('username')} (user id {self.secrets.get('user_id')})",
            )
        self._identity_ok = True

    def _handle(self) -> str:
        # klapper.yaml's handle, else the username `klapper login` stored, else ask X.
        handle = str(self.settings.get("handle") or self.secrets.get("username") or "")
        handle = handle.lstrip("@")
        return handle or str(self.whoami()["username"])

    @staticmethod
    def _url(handle: str, tweet_id: str) -> str:
        return f"https://x.com/{handle}/status/{tweet_id}"

    # --- the contract -----------------------------------------------------------------------

    def publish(self, post: Outgoing) -> Published:
        self.check_identity()
        deadline = time.monotonic() + max(self.timeout, 30.0)
        media_ids = [
            x_media.upload(request=self._request, media=media, deadline=deadline)
            for media in post.media
        ]
        handle = self._handle()  # before posting: nothing may fail once the post is out
        answer = self._tweepy_call(
            "post",
            "create_tweet",
            text=post.text,
            media_ids=media_ids or None,
            in_reply_to_tweet_id=post.reply_to.parent.remote_id if post.reply_to else None,
            reply_settings=post.options.get("reply_settings"),
        )
        tweet_id = str(answer["data"]["id"])
        return Published(
            remote_id=tweet_id, url=self._url(handle, tweet_id), published_at=datetime.now(UTC)
        )

    def find(self, post: Outgoing) -> Published | None:
        self.check_identity()
        me = self.whoami()
        now = datetime.now(UTC)
        start = min(find_since(post.due) or now - timedelta(days=1), now - timedelta(seconds=1))
        parent = post.reply_to.parent.remote_id if post.reply_to else None
        matches = [
            tweet
            for tweet, _ in self._pages(
                "read the account's recent posts",
                "get_users_tweets",
                me["id"],
                token_param="pagination_token",
                start_time=start,
                tweet_fields=_TWEET_FIELDS,
            )
            if same_text(tweet["text"], post.text, shown_as=shown_by_x)
            and _replied_to(tweet) == parent
        ]
        if not matches:
            return None
        due = post.due or now
        best = min(matches, key=lambda t: abs((_created(t) - due).total_seconds()))
        return Published(
            remote_id=str(best["id"]),
            url=self._url(str(me["username"]), str(best["id"])),
            published_at=_created(best),
        )

    def metrics(self, remote_ids: Sequence[str]) -> list[Metrics]:
        found: list[Metrics] = []
        for start in range(0, len(remote_ids), LOOKUP_BATCH):
            batch = [str(i) for i in remote_ids[start : start + LOOKUP_BATCH]]
            found.extend(_metrics(tweet) for tweet in self._lookup(batch))
        return found

    def _lookup(self, ids: list[str]) -> list[Mapping[str, Any]]:
        fields = ["public_metrics", *(_PRIVATE_METRICS if self._private_metrics else [])]
        try:
            answer = self._tweepy_call("read reactions", "get_tweets", ids, tweet_fields=fields)
        except (PermanentError, AuthExpiredError):
            if not self._private_metrics:
                raise
            # This token or tier may not read non-public metrics at all: public ones only.
            self._private_metrics = False
            return self._lookup(ids)
        # Deleted or hidden posts come back under "errors"; they simply have no reading.
        return list(answer.get("data") or [])

    def interactions(self, *, since: datetime, own_ids: Sequence[str]) -> list[Interaction]:
        me = self.whoami()
        own = {str(i) for i in own_ids}
        search_start = max(since, datetime.now(UTC) - SEARCH_WINDOW)
        found: dict[str, Interaction] = {}
        for query in self._conversation_queries(sorted(own)):
            for tweet, users in self._pages(
                "search replies",
                "search_recent_tweets",
                query,
                token_param="next_token",
                start_time=search_start,
                tweet_fields=_TWEET_FIELDS,
                expansions=["author_id"],
                user_fields=["username"],
            ):
                if str(tweet["id"]) not in own:
                    found[str(tweet["id"])] = _interaction(tweet, users, kind="reply", me=me)
        for tweet, users in self._pages(
            "read mentions",
            "get_users_mentions",
            me["id"],
            token_param="pagination_token",
            start_time=since,
            tweet_fields=_TWEET_FIELDS,
            expansions=["author_id"],
            user_fields=["username"],
        ):
            key = str(tweet["id"])
            if key not in own and key not in found:
                found[key] = _interaction(tweet, users, kind="mention", me=me)
        return sorted(found.values(), key=lambda i: i.created_at)

    def _conversation_queries(self, ids: Sequence[str]) -> Iterator[str]:
        """``conversation_id:A OR conversation_id:B ...`` within the tier's query length."""
        query = ""
        for remote_id in ids:
            clause = f"conversation_id:{remote_id}"
            joined = f"{query} OR {clause}" if query else clause
            if len(joined) > self._query_limit and query:
                yield query
                joined = clause
            query = joined
        if query:
            yield query

    def _pages(
        self, action: str, method: str, *args: Any, token_param: str, **params: Any
    ) -> Iterator[tuple[Mapping[str, Any], Mapping[str, Mapping[str, Any]]]]:
        """Each tweet of a paginated answer, with the users it mentions in ``includes``."""
        token: str | None = None
        for _ in range(MAX_PAGES):
            paging = {token_param: token} if token else {}
            answer = self._tweepy_call(
                action, method, *args, max_results=PAGE_SIZE, **paging, **params
            )
            users = {str(u["id"]): u for u in answer.get("includes", {}).get("users", [])}
            for tweet in answer.get("data") or []:
                yield tweet, users
            token = answer.get("meta", {}).get("next_token")
            if not token:
                return
        raise TransientError(
            f"X had more than {MAX_PAGES * PAGE_SIZE} results when asked to {action};"
            " stopped to be safe"
        )


def _unauthorized(exc: Exception) -> bool:
    """X refused the token itself (401), not what it was asked to do."""
    return getattr(getattr(exc, "response", None), "status_code", None) == 401


def _created(tweet: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(str(tweet["created_at"]).replace("Z", "+00:00"))


def _replied_to(tweet: Mapping[str, Any]) -> str | None:
    for ref in tweet.get("referenced_tweets") or ():
        if ref.get("type") == "replied_to":
            return str(ref["id"])
    return None


def _count(*sources: Mapping[str, Any] | None, key: str) -> int | None:
    """The first source that has ``key``; None (unknown), never 0, when none has it."""
    for source in sources:
        if source and source.get(key) is not None:
            return int(source[key])
    return None


def _metrics(tweet: Mapping[str, Any]) -> Metrics:
    public = tweet.get("public_metrics")
    private = tweet.get("non_public_metrics")
    organic = tweet.get("organic_metrics")
    return Metrics(
        remote_id=str(tweet["id"]),
        likes=_count(public, organic, key="like_count"),
        reposts=_count(public, organic, key="retweet_count"),
        replies=_count(public, organic, key="reply_count"),
        quotes=_count(public, key="quote_count"),
        bookmarks=_count(public, key="bookmark_count"),
        views=_count(public, private, organic, key="impression_count"),
    )


def _interaction(
    tweet: Mapping[str, Any],
    users: Mapping[str, Mapping[str, Any]],
    *,
    kind: Literal["reply", "mention"],
    me: Mapping[str, Any],
) -> Interaction:
    author_id = str(tweet.get("author_id") or "")
    author = str(users.get(author_id, {}).get("username") or author_id)
    return Interaction(
        remote_id=str(tweet["id"]),
        kind=kind,
        author=author,
        text=html.unescape(str(tweet["text"])),
        url=f"https://x.com/{author}/status/{tweet['id']}",
        created_at=_created(tweet),
        in_reply_to=_replied_to(tweet),
        by_self=author_id == str(me["id"]),
    )
