"""A fake X API v2 on 127.0.0.1 (posts, lookup, timelines, search, v2 media, OAuth) for tests.

It answers like api.x.com: ``{"data", "includes", "errors", "meta"}`` bodies, problem JSON
errors, ``x-rate-limit-*`` headers on every answer, 403 for duplicates, 401 for expired tokens,
t.co links in returned text. ``fail_next`` injects one failure into the next call of a route.
Reach it through ``RewriteTransport`` (``FakeX.connect(adapter)``): tweepy's host is built in.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from klapper import testing as faults
from klapper.adapters.x.adapter import XAdapter
from klapper.adapters.x.http import API_BASE, TWEEPY_HOST
from tests.fakes.x_media import MediaRoutes, invalid
from tests.fakes.x_oauth import (
    AUTHORIZE_HOST,
    OAuthSide,
    Reply,
    RewriteTransport,
    problem,
    split_url,
)

ME_ID, ME_USERNAME = "1000", "klapper_shop"
CLIENT_ID = "fake-x-client"
FAIL_KINDS = (
    "server_error",
    "rate_limit",
    "timeout_after_accept",
    "drop",
    "auth",
    *faults.HTTP_FAULTS,
)
SCOPES = ("tweet.read", "tweet.write", "users.read", "offline.access", "media.write")
WINDOW = 900  # X's rate-limit window, seconds
_LINK = re.compile(r"https?://\S+|\b[\w-]+\.(?:com|org|net|io|de|dev)\b(?:/\S*)?")
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(r"/2/users/me"), "me"),
    ("POST", re.compile(r"/2/tweets"), "create_tweet"),
    ("GET", re.compile(r"/2/tweets"), "lookup"),
    ("GET", re.compile(r"/2/tweets/search/recent"), "search"),
    ("GET", re.compile(r"/2/users/(\d+)/tweets"), "timeline"),
    ("GET", re.compile(r"/2/users/(\d+)/mentions"), "mentions"),
    ("POST", re.compile(r"/2/media/upload/initialize"), "media_init"),
    ("POST", re.compile(r"/2/media/upload/(\d+)/append"), "media_append"),
    ("POST", re.compile(r"/2/media/upload/(\d+)/finalize"), "media_finalize"),
    ("GET", re.compile(r"/2/media/upload"), "media_status"),
    ("POST", re.compile(r"/2/media/metadata"), "media_metadata"),
]


@dataclass
class Failure:
    kind: str
    reply: Reply | None = None


class FakeX(MediaRoutes):
    """The fake's state and its HTTP server; ``with FakeX() as fake: ...``."""

    def __init__(self, *, slow_seconds: float = 2.0, query_limit: int = 512) -> None:
        self.oauth = OAuthSide(user_id=ME_ID)
        self.users: dict[str, str] = {ME_ID: ME_USERNAME}
        self.tweets: dict[str, dict[str, Any]] = {}
        self.media: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # method, route, query
        self.slow_seconds = slow_seconds
        self.query_limit = query_limit
        self.processing_check_after = 1  # X says check_after_secs >= 1; tests may lower it
        self.lacks: set[str] = set()  # routes the app's API tier does not include
        self.limits: dict[str, int] = {}  # route -> requests per window (default: plenty)
        self._used: dict[str, int] = {}
        self._window_start = int(time.time())
        self._failures: dict[str, list[Failure]] = {}
        self._ids = itertools.count(1_900_000_000_000_000_000)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # --- lifecycle and wiring ---------------------------------------------------------------

    def __enter__(self) -> FakeX:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def transport(self) -> RewriteTransport:
        return RewriteTransport(self.base_url)

    def connect(self, adapter: XAdapter) -> XAdapter:
        """Point every session of ``adapter`` at this fake."""
        transport = self.transport()
        for origin in (API_BASE, TWEEPY_HOST):
            adapter.mount(origin, transport)
        return adapter

    def oauth2_secrets(self, *, lifetime: float = 7200, user_id: str = ME_ID) -> dict[str, str]:
        """What `klapper login x` would have stored for the fake account (or ``user_id``)."""
        self.oauth.register_client(CLIENT_ID, redirect_uri="http://127.0.0.1:8914/callback")
        issued = self.oauth.issue(scopes=SCOPES, lifetime=lifetime, user_id=user_id)
        issued.pop("expires_in")
        return {**issued, "client_id": CLIENT_ID}

    # --- test controls ----------------------------------------------------------------------

    def fail_next(
        self, kind: str, *, route: str = "create_tweet", reply: Reply | None = None
    ) -> None:
        """The next call of ``route`` fails: one of FAIL_KINDS, or ``kind="reply"`` with ``reply``."""
        assert kind in (*FAIL_KINDS, "reply"), kind
        with self._lock:
            self._failures.setdefault(route, []).append(Failure(kind, reply))

    def count(self, route: str) -> int:
        return sum(1 for _, r, _ in self.requests if r == route)

    def add_user(self, user_id: str, username: str) -> None:
        self.users[user_id] = username

    def add_tweet(
        self,
        *,
        author_id: str,
        text: str,
        reply_to: str | None = None,
        created_at: datetime | None = None,
        metrics: dict[str, int] | None = None,
    ) -> str:
        """A post by anyone (a reply, a mention, an old post of ours); returns its id."""
        with self._lock:
            tweet_id = str(next(self._ids))
            parent = self.tweets.get(reply_to or "")
            self.tweets[tweet_id] = {
                "id": tweet_id,
                "text": text,
                "author_id": author_id,
                "created_at": created_at or datetime.now(UTC),
                "conversation_id": parent["conversation_id"] if parent else tweet_id,
                "reply_to": reply_to,
                "media": [],
                "metrics": {
                    "retweet_count": 0,
                    "reply_count": 0,
                    "like_count": 0,
                    "quote_count": 0,
                    "bookmark_count": 0,
                    "impression_count": 0,
                    **(metrics or {}),
                },
            }
            return tweet_id

    def posts(self) -> list[dict[str, Any]]:
        """The fake account's own posts as stored (original text), oldest first."""
        with self._lock:
            return [
                {
                    "id": t["id"],
                    "text": t["text"],
                    "reply_to": t["reply_to"],
                    "media": list(t["media"]),
                }
                for t in self.tweets.values()
                if t["author_id"] == ME_ID
            ]

    # --- dispatch ---------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Reply:
        path, query_text, query = split_url(raw_path)
        if path == "/i/oauth2/authorize" and method == "GET":
            return self.oauth.authorize(query)
        if path == "/2/oauth2/token" and method == "POST":
            form = dict(parse_qsl(body.decode(), keep_blank_values=True))
            self.oauth.token_requests.append({"grant_type": form.get("grant_type", "")})
            return self._with_failure("token", lambda: self.oauth.token(form, headers))
        for route_method, pattern, route in _ROUTES:  # noqa: B007 - route is used after the loop
            match = pattern.fullmatch(path)
            if match and route_method == method:
                break
        else:
            return problem(404, "Not Found Error", f"no route {method} {path}")
        with self._lock:
            self.requests.append((method, route, query))
        user = self.oauth.user_for(
            method=method, path=path, query=query_text, headers=headers, body=body
        )
        if user is None:
            return problem(401, "Unauthorized", "Unauthorized")
        if route in self.lacks:
            return problem(
                403,
                "Client Forbidden",
                "When authenticating requests to the Twitter API v2"
                " endpoints, you must use keys and tokens from a Twitter developer App that is"
                " attached to a Project.",
                "https://api.twitter.com/2/problems/client-forbidden",
                reason="client-not-enrolled",
                required_enrollment="Appropriate Level of API Access",
                client_id=CLIENT_ID,
            )
        handler = getattr(self, f"_{route}")
        reply = self._with_failure(
            route,
            lambda: self._limited(
                route,
                lambda: handler(
                    *match.groups(), query=query, body=body, headers=headers, user=user
                ),
            ),
        )
        return reply

    def _with_failure(self, route: str, answer: Any) -> Reply:
        with self._lock:
            queue = self._failures.get(route) or []
            failure = queue.pop(0) if queue else None
        if failure is None:
            return answer()
        if failure.kind == "server_error":
            return problem(503, "Service Unavailable", "Service Unavailable")
        if failure.kind in faults.HTTP_FAULTS:
            status, headers, body = faults.answer(failure.kind)
            return Reply(status, body, headers)
        if failure.kind == "rate_limit":
            reset = int(time.time()) + 30
            reply = problem(429, "Too Many Requests", "Too Many Requests")
            reply.headers = {
                "x-rate-limit-limit": "100",
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": str(reset),
            }
            return reply
        if failure.kind == "auth":
            if route == "token":
                return Reply(
                    400,
                    {
                        "error": "invalid_request",
                        "error_description": "Value passed for the token was invalid.",
                    },
                )
            return problem(401, "Unauthorized", "Unauthorized")
        if failure.kind == "drop":
            return Reply(drop=True)
        if failure.kind == "timeout_after_accept":
            reply = answer()
            reply.delay = self.slow_seconds
            return reply
        assert failure.reply is not None
        return failure.reply

    def _limited(self, route: str, answer: Any) -> Reply:
        now = int(time.time())
        with self._lock:
            if now >= self._window_start + WINDOW:
                self._window_start, self._used = now, {}
            limit = self.limits.get(route, 10_000)
            used = self._used[route] = self._used.get(route, 0) + 1
        headers = {
            "x-rate-limit-limit": str(limit),
            "x-rate-limit-remaining": str(max(limit - used, 0)),
            "x-rate-limit-reset": str(self._window_start + WINDOW),
        }
        reply = problem(429, "Too Many Requests", "Too Many Requests") if used > limit else answer()
        reply.headers = {**headers, **reply.headers}
        return reply

    # --- users and posts --------------------------------------------------------------------

    def _me(self, *, user: str, **_: Any) -> Reply:
        # Like X: whoever the token belongs to.
        return Reply(
            200,
            {"data": {"id": user, "name": self.users[user].title(), "username": self.users[user]}},
        )

    def _create_tweet(self, *, body: bytes, user: str, **_: Any) -> Reply:
        data = json.loads(body)
        text = data.get("text", "")
        reply_to = (data.get("reply") or {}).get("in_reply_to_tweet_id")
        media_ids = (data.get("media") or {}).get("media_ids") or []
        if len(text) > 280:
            return invalid(
                "Your Tweet text is too long. For more information on how X determines text length, see https://github.com/twitter/twitter-text."
            )
        if any(self.media.get(m, {}).get("state") != "succeeded" for m in media_ids):
            return invalid("Your media IDs are invalid.")
        if reply_to and reply_to not in self.tweets:
            return problem(
                403,
                "Forbidden",
                "You attempted to reply to a Tweet that is deleted or not visible to you.",
            )
        with self._lock:
            if any(t["author_id"] == user and t["text"] == text for t in self.tweets.values()):
                return problem(
                    403,
                    "Forbidden",
                    "You are not allowed to create a Tweet with duplicate content.",
                )
            tweet_id = self.add_tweet(author_id=user, text=text, reply_to=reply_to)
            self.tweets[tweet_id]["media"] = [
                {"id": m, "alt": self.media[m].get("alt")} for m in media_ids
            ]
            self.tweets[tweet_id]["reply_settings"] = data.get("reply_settings")
        return Reply(
            201,
            {
                "data": {
                    "id": tweet_id,
                    "text": self._render(self.tweets[tweet_id]),
                    "edit_history_tweet_ids": [tweet_id],
                }
            },
        )

    def _lookup(self, *, query: dict[str, str], **_: Any) -> Reply:
        ids = [i for i in query.get("ids", "").split(",") if i]
        if not 1 <= len(ids) <= 100:
            return invalid(
                f"The `ids` query parameter value [{len(ids)} ids] is not between 1 and 100"
            )
        fields = set(query.get("tweet.fields", "").split(","))
        data, errors = [], []
        for tweet_id in ids:
            tweet = self.tweets.get(tweet_id)
            if tweet is None:
                errors.append(
                    {
                        "value": tweet_id,
                        "detail": f"Could not find tweet with ids: [{tweet_id}].",
                        "title": "Not Found Error",
                        "resource_type": "tweet",
                        "parameter": "ids",
                        "resource_id": tweet_id,
                        "type": "https://api.twitter.com/2/problems/resource-not-found",
                    }
                )
                continue
            data.append(self._view(tweet, fields, errors))
        return Reply(200, {k: v for k, v in (("data", data), ("errors", errors)) if v})

    def _timeline(self, user_id: str, *, query: dict[str, str], **_: Any) -> Reply:
        return self._page(
            [t for t in self.tweets.values() if t["author_id"] == user_id],
            query,
            token_key="pagination_token",
        )

    def _mentions(self, user_id: str, *, query: dict[str, str], **_: Any) -> Reply:
        handle = f"@{self.users[user_id]}".lower()
        return self._page(
            [
                t
                for t in self.tweets.values()
                if handle in t["text"].lower() and t["author_id"] != user_id
            ],
            query,
            token_key="pagination_token",
        )

    def _search(self, *, query: dict[str, str], **_: Any) -> Reply:
        text = query.get("query", "")
        if len(text) > self.query_limit:
            return invalid(
                f"There were errors processing your request: Query is too long (max {self.query_limit})"
            )
        start = query.get("start_time")
        if start and _parse_time(start) < datetime.now(UTC) - timedelta(days=7):
            return invalid(
                f"Invalid 'start_time':'{start}'. 'start_time' must be on or after the last 7 days."
            )
        wanted = set(re.findall(r"conversation_id:(\d+)", text))
        return self._page(
            [t for t in self.tweets.values() if t["conversation_id"] in wanted],
            query,
            token_key="next_token",
        )

    def _page(
        self, tweets: list[dict[str, Any]], query: dict[str, str], *, token_key: str
    ) -> Reply:
        size = int(query.get("max_results", "10"))
        if not 5 <= size <= 100:
            return invalid(
                f"The `max_results` query parameter value [{size}] is not between 5 and 100"
            )
        start, end = query.get("start_time"), query.get("end_time")
        tweets = sorted(tweets, key=lambda t: (t["created_at"], int(t["id"])), reverse=True)
        tweets = [
            t
            for t in tweets
            if (not start or t["created_at"] >= _parse_time(start))
            and (not end or t["created_at"] < _parse_time(end))
        ]
        offset = int(query.get(token_key) or 0)
        chunk = tweets[offset : offset + size]
        fields = set(query.get("tweet.fields", "").split(","))
        meta: dict[str, Any] = {"result_count": len(chunk)}
        if offset + size < len(tweets):
            meta["next_token"] = str(offset + size)
        body: dict[str, Any] = {"meta": meta}
        if chunk:
            body["data"] = [self._view(t, fields, []) for t in chunk]
            meta.update(newest_id=chunk[0]["id"], oldest_id=chunk[-1]["id"])
            if "author_id" in query.get("expansions", ""):
                authors = dict.fromkeys(t["author_id"] for t in chunk)
                body["includes"] = {
                    "users": [
                        {
                            "id": a,
                            "name": self.users.get(a, a),
                            "username": self.users.get(a, f"user{a}"),
                        }
                        for a in authors
                    ]
                }
        return Reply(200, body)

    def _render(self, tweet: dict[str, Any]) -> str:
        """Text as X returns it: links as t.co, &<> escaped, a t.co link for attached media."""

        def short(match: re.Match[str]) -> str:
            return "https://t.co/" + hashlib.sha1(match[0].encode()).hexdigest()[:10]

        text = html.escape(_LINK.sub(short, tweet["text"]), quote=False)
        if tweet["media"]:
            text += " https://t.co/" + hashlib.sha1(tweet["id"].encode()).hexdigest()[:10]
        return text

    def _view(
        self, tweet: dict[str, Any], fields: set[str], errors: list[dict[str, Any]]
    ) -> dict[str, Any]:
        view: dict[str, Any] = {
            "id": tweet["id"],
            "text": self._render(tweet),
            "edit_history_tweet_ids": [tweet["id"]],
        }
        if "created_at" in fields:
            view["created_at"] = tweet["created_at"].strftime("%Y-%m-%dT%H:%M:%S.000Z")
        if "author_id" in fields:
            view["author_id"] = tweet["author_id"]
        if "conversation_id" in fields:
            view["conversation_id"] = tweet["conversation_id"]
        if "referenced_tweets" in fields and tweet["reply_to"]:
            view["referenced_tweets"] = [{"type": "replied_to", "id": tweet["reply_to"]}]
        metrics = tweet["metrics"]
        if "public_metrics" in fields:
            view["public_metrics"] = dict(metrics)
        own_recent = tweet["author_id"] == ME_ID and tweet["created_at"] > datetime.now(
            UTC
        ) - timedelta(days=30)
        for field in ("non_public_metrics", "organic_metrics") if fields else ():
            if field not in fields:
                continue
            if not own_recent:
                errors.append(
                    {
                        "value": tweet["id"],
                        "resource_id": tweet["id"],
                        "parameter": field,
                        "resource_type": "tweet",
                        "title": "Field Authorization Error",
                        "detail": f"Sorry, you are not authorized to access '{field}' on a Tweet.",
                        "type": "https://api.twitter.com/2/problems/not-authorized-for-field",
                    }
                )
            elif field == "non_public_metrics":
                view[field] = {
                    "impression_count": metrics["impression_count"],
                    "user_profile_clicks": 0,
                }
            else:
                view[field] = {
                    k: metrics[k]
                    for k in ("impression_count", "like_count", "reply_count", "retweet_count")
                }
        return view


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _handler(fake: FakeX) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            reply = fake.handle(self.command, self.path, dict(self.headers.items()), body)
            if reply.drop:
                self.close_connection = True
                return
            if reply.delay:
                time.sleep(reply.delay)
            payload = (
                reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            )
            if reply.body is None:
                payload = b""
            self.send_response(reply.status)
            if "Content-Type" not in reply.headers:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            with contextlib.suppress(OSError):  # the client may have given up (timeout tests)
                self.wfile.write(payload)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


class Case:
    """One XAdapter on one fake, for the shared adapter contract suite."""

    lacks: dict[str, str] = {}

    def __init__(self, fake: FakeX, adapter: XAdapter) -> None:
        self.fake, self.adapter = fake, adapter

    def reply(self, *, to: str, text: str) -> None:
        self.fake.add_user("2000", "alice")
        self.fake.add_tweet(author_id="2000", text=f"@{ME_USERNAME} {text}", reply_to=to)

    def posts(self) -> list[dict[str, Any]]:
        return self.fake.posts()

    def fail_next(self, kind: str) -> None:
        self.fake.fail_next(kind)
        if kind == "auth":  # the token is revoked: the adapter's one refresh fails as well
            self.fake.fail_next("auth", route="token")


@contextlib.contextmanager
def adapter_case(tmp_path: Path, *, timeout: float = 1.0, **settings: Any) -> Iterator[Case]:
    """An XAdapter (OAuth 2.0 user token, timeout 1 s) on a fresh fake X."""
    with FakeX(slow_seconds=timeout + 1.0) as fake:
        saved: list[dict[str, str]] = []
        adapter = XAdapter(
            name="x",
            settings={"handle": ME_USERNAME, **settings},
            secrets=fake.oauth2_secrets(),
            repo=tmp_path,
            timeout=timeout,
            save_secrets=lambda values: saved.append(dict(values)),
        )
        fake.connect(adapter)
        try:
            yield Case(fake, adapter)
        finally:
            adapter.close()


__all__ = ["AUTHORIZE_HOST", "CLIENT_ID", "ME_ID", "ME_USERNAME", "FakeX", "adapter_case"]
