"""A fake Google Business Profile API (v4) and OAuth token endpoint on 127.0.0.1.

It answers as Google's documentation shows: ``POST|GET {location}/localPosts`` (LocalPost
resources with ``name``, ``state``, ``searchUrl``, ``createTime``; pages with ``nextPageToken``),
``POST {location}/localPosts:reportInsights``, ``POST /token`` (authorization_code and
refresh_token grants; a refresh returns no new refresh token), errors as
``{"error": {"code", "message", "status", "details"}}``: 401 UNAUTHENTICATED for a bad or
expired token, 429 RESOURCE_EXHAUSTED for a rate limit, and for a project whose API access Google
has not approved (``approved=False``) a 429 whose ErrorInfo says ``quota_limit_value`` "0".
"""

from __future__ import annotations

import contextlib
import itertools
import json
import pathlib
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from klapper import testing
from klapper.adapters.base import Interaction
from tests.fakes.loopback import serving

LOCATION = "accounts/1029384756/locations/5647382910"
CLIENT_ID, CLIENT_SECRET = "1234-fake.apps.googleusercontent.com", "GOCSPX-fake-secret-0123"
AUTHORIZE_PATH = "/o/oauth2/v2/auth"
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class Answer(Exception):
    """A route's error answer, in Google's shape."""

    def __init__(self, code: int, message: str, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.code = code
        self.body = {
            "error": {
                "code": code,
                "message": message,
                "status": _STATUS[code],
                **({"details": details} if details else {}),
            }
        }


def stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class FakeGoogleBusiness:
    """The profile's state; ``serve()`` makes it answer HTTP on 127.0.0.1."""

    location: str = LOCATION
    approved: bool = True  # False: the project's quota is 0 (access not approved yet)
    page_size_cap: int = 100
    slow_seconds: float = 5.0
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> LocalPost
    views: dict[str, int] = field(default_factory=dict)  # post name -> search views
    reviews: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> Review
    tokens: dict[str, float] = field(default_factory=dict)  # access token -> expiry
    refresh_tokens: set[str] = field(default_factory=set)
    codes: set[str] = field(default_factory=set)
    seen: list[tuple[str, str, bytes]] = field(default_factory=list)  # method, path, body
    url: str = ""

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self._ids = itertools.count(1_000_000_001)
        self._failures: list[str] = []
        self.release = threading.Event()

    # --- test controls ----------------------------------------------------------------------

    def issue(self, *, lifetime: float = 3600) -> dict[str, Any]:
        """A token response with a refresh token, as after the consent page."""
        with self.lock:
            access, refresh = "ya29." + secrets.token_urlsafe(24), "1//" + secrets.token_urlsafe(24)
            self.tokens[access] = time.time() + lifetime
            self.refresh_tokens.add(refresh)
        return {
            "access_token": access,
            "expires_in": int(lifetime),
            "refresh_token": refresh,
            "scope": "https://www.googleapis.com/auth/business.manage",
            "token_type": "Bearer",
        }

    def expire(self, access: str) -> None:
        with self.lock:
            self.tokens[access] = time.time() - 1

    def fail_next(self, kind: str) -> None:
        """The next create fails as ``kind`` (``klapper.testing.FAULTS``)."""
        with self.lock:
            self._failures.append(kind)

    def review(self, name: str, *, state: str) -> None:
        """Google's review decides about a post (REJECTED or LIVE)."""
        with self.lock:
            self.posts[name]["state"] = state

    def add_post(self, summary: str, *, created: float | None = None, **extra: Any) -> str:
        with self.lock:
            name = f"{self.location}/localPosts/{next(self._ids)}"
            self.posts[name] = {
                "name": name,
                "summary": summary,
                "state": "PROCESSING",
                "topicType": "STANDARD",
                "createTime": stamp(created or time.time()),
                "updateTime": stamp(time.time()),
                "searchUrl": f"https://local.google.com/place?id=5647382910&use=posts&lpsid={name[-10:]}",
                **extra,
            }
            return name

    def held(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {"id": p["name"], "text": p.get("summary", ""), "reply_to": None}
                for p in sorted(self.posts.values(), key=lambda p: p["createTime"])
            ]

    # --- the server -------------------------------------------------------------------------

    @contextlib.contextmanager
    def serve(self) -> Iterator[FakeGoogleBusiness]:
        with serving(_handler(self), on_stop=self.release.set) as self.url:
            yield self

    def take_failure(self) -> str | None:
        with self.lock:
            return self._failures.pop(0) if self._failures else None

    # --- routes -----------------------------------------------------------------------------

    def authorise(self, headers: dict[str, str]) -> None:
        match = re.fullmatch(r"Bearer (\S+)", headers.get("authorization", ""))
        expiry = self.tokens.get(match[1]) if match else None
        if expiry is None or expiry < time.time():
            raise Answer(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2"
                " access token, login cookie or other valid authentication"
                " credential.",
            )
        if not self.approved:
            raise Answer(
                429,
                "Quota exceeded for quota metric 'Requests' and limit 'Requests"
                " per minute' of service 'mybusiness.googleapis.com' for consumer"
                " 'project_number:123456789012'.",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "RATE_LIMIT_EXCEEDED",
                        "domain": "googleapis.com",
                        "metadata": {
                            "quota_limit_value": "0",
                            "service": "mybusiness.googleapis.com",
                        },
                    }
                ],
            )

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        if len(body.get("summary", "")) > 1500:
            raise Answer(400, "Request contains an invalid argument.")
        topic = body.get("topicType")
        if topic not in ("STANDARD", "EVENT", "OFFER", "ALERT"):
            raise Answer(400, "Invalid value at 'local_post.topic_type'")
        if topic in ("EVENT", "OFFER") and not (body.get("event") or {}).get("schedule"):
            raise Answer(400, "Request contains an invalid argument.")
        button = body.get("callToAction")
        if button and button.get("actionType") != "CALL" and not button.get("url"):
            raise Answer(400, "Request contains an invalid argument.")
        if len(body.get("media") or []) > 1:
            raise Answer(400, "Request contains an invalid argument.")
        fields = {k: v for k, v in body.items() if k not in ("name", "state", "summary")}
        return self.posts[self.add_post(body.get("summary", ""), **fields)]

    def listing(self, query: dict[str, list[str]]) -> dict[str, Any]:
        size = min(int((query.get("pageSize") or ["20"])[0]), self.page_size_cap)
        start = int((query.get("pageToken") or ["0"])[0] or 0)
        with self.lock:
            found = sorted(self.posts.values(), key=lambda p: p["createTime"], reverse=True)
        answer: dict[str, Any] = {"localPosts": found[start : start + size]}
        if start + size < len(found):
            answer["nextPageToken"] = str(start + size)
        return answer

    def insights(self, body: dict[str, Any]) -> dict[str, Any]:
        names = body.get("localPostNames") or []
        if len(names) > 10:
            raise Answer(400, "At most 10 local posts can be requested at once.")
        out = []
        for name in names:
            if name not in self.posts:
                raise Answer(404, f"Requested entity was not found: {name}")
            values = []
            if name in self.views:  # Google leaves out a metric it has no figure for
                values.append(
                    {
                        "metric": "LOCAL_POST_VIEWS_SEARCH",
                        "totalValue": {
                            "metricOption": "AGGREGATED_TOTAL",
                            "value": str(self.views[name]),
                        },
                    }
                )
            out.append({"localPostName": name, "metricValues": values})
        return {"name": self.location, "localPostMetrics": out}

    def consent(self, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        wanted = {"access_type": ["offline"], "prompt": ["consent"], "client_id": [CLIENT_ID]}
        if (
            any(query.get(key) != value for key, value in wanted.items())
            or "business.manage" not in (query.get("scope") or [""])[0]
        ):
            raise Answer(400, f"invalid authorization request: {sorted(query)}")
        code = "4/" + secrets.token_urlsafe(16)
        with self.lock:
            self.codes.add(code)
        target = f"{query['redirect_uri'][0]}?code={code}&state={query['state'][0]}"
        return 302, {"Location": target}, b""

    def add_review(
        self,
        stars: int,
        comment: str | None,
        *,
        by: str = "Anna Berger",
        created: float | None = None,
        reply: str | None = None,
    ) -> str:
        with self.lock:
            name = f"{self.location}/reviews/AbFvOq{next(self._ids)}"
            at = stamp(created or time.time())
            review: dict[str, Any] = {
                "name": name,
                "reviewId": name.rsplit("/", 1)[1],
                "createTime": at,
                "updateTime": at,
                "starRating": ["ONE", "TWO", "THREE", "FOUR", "FIVE"][stars - 1],
                "reviewer": {"displayName": by, "isAnonymous": False},
            }
            if comment is not None:  # a rating without words has no comment
                review["comment"] = comment
            self.reviews[name] = review
        if reply is not None:
            self.answer_review(name, reply)
        return name

    def answer_review(self, name: str, comment: str, *, at: float | None = None) -> None:
        with self.lock:
            now = stamp(at or time.time())
            self.reviews[name]["reviewReply"] = {"comment": comment, "updateTime": now}
            self.reviews[name]["updateTime"] = now

    def review_call(self, method: str, name: str, data: dict[str, Any]) -> tuple[int, Any, str]:
        """GET one review; PUT (or DELETE) its reply, as the owner answers it."""
        review_name, is_reply = name.removesuffix("/reply"), name.endswith("/reply")
        with self.lock:
            review = self.reviews.get(review_name)
            if review is None:
                raise Answer(404, "Requested entity was not found.")
            if method == "GET" and not is_reply:
                return 200, review, ""
            if method == "PUT" and is_reply:
                kind = self.take_failure()
                if kind == "server_error":
                    raise Answer(503, "The service is currently unavailable.")
                comment = str(data.get("comment") or "")
                if not comment or len(comment.encode()) > 4096:
                    raise Answer(400, "Request contains an invalid argument.")
                self.answer_review(review_name, comment)
                answer = dict(self.reviews[review_name]["reviewReply"])
                return 200, answer, "slow" if kind == "timeout_after_accept" else ""
        raise Answer(404, f"Method not found: {method} /v4/{name}")

    def replies(self) -> list[dict[str, Any]]:
        """The owner's review replies as the contract suite reads posts: answers to reviews."""
        with self.lock:
            return [
                {"id": f"{name}/reply", "text": r["reviewReply"]["comment"], "reply_to": name}
                for name, r in self.reviews.items()
                if r.get("reviewReply")
            ]

    def review_page(self, query: dict[str, list[str]]) -> dict[str, Any]:
        size = min(int((query.get("pageSize") or ["50"])[0]), 50)
        start = int((query.get("pageToken") or ["0"])[0] or 0)
        key = (
            "updateTime"
            if (query.get("orderBy") or [""])[0].startswith("updateTime")
            else "createTime"
        )
        with self.lock:
            found = sorted(self.reviews.values(), key=lambda r: r[key], reverse=True)
            stars = [
                ["ONE", "TWO", "THREE", "FOUR", "FIVE"].index(r["starRating"]) + 1 for r in found
            ]
        answer: dict[str, Any] = {
            "reviews": found[start : start + size],
            "totalReviewCount": len(found),
        }
        if stars:
            answer["averageRating"] = round(sum(stars) / len(stars), 1)
        if start + size < len(found):
            answer["nextPageToken"] = str(start + size)
        return answer

    def token(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        grant = (form.get("grant_type") or [""])[0]
        if (form.get("client_secret") or [""])[0] != CLIENT_SECRET:
            return 401, {"error": "invalid_client", "error_description": "Unauthorized"}
        with self.lock:
            if (
                grant == "refresh_token"
                and (form.get("refresh_token") or [""])[0] in self.refresh_tokens
            ):
                answer = self.issue()
                self.refresh_tokens.discard(answer.pop("refresh_token"))  # Google keeps the old
                return 200, answer
            if grant == "authorization_code" and (form.get("code") or [""])[0] in self.codes:
                self.codes.discard(form["code"][0])
                return 200, self.issue()
        return 400, {"error": "invalid_grant", "error_description": "Bad Request"}


def _route(
    fake: FakeGoogleBusiness,
    method: str,
    path: str,
    query: dict[str, list[str]],
    headers: dict[str, str],
    body: bytes,
) -> tuple[int, Any, str]:
    """(status, JSON or raw answer, "drop"/"slow"/"")."""
    if method == "POST" and path == "/token":
        status, answer = fake.token(parse_qs(body.decode()))
        return status, answer, ""
    if method == "GET" and path == AUTHORIZE_PATH:  # the person consents at once
        return 302, fake.consent(query), ""
    fake.authorise(headers)
    posts = f"/v4/{fake.location}/localPosts"
    data = json.loads(body or b"{}")
    if method == "POST" and path == posts:
        kind = fake.take_failure()
        if kind in testing.HTTP_FAULTS:
            return testing.answer(kind)[0], testing.answer(kind), ""
        if kind == "server_error":
            raise Answer(503, "The service is currently unavailable.")
        if kind == "rate_limit":
            raise Answer(429, "Resource has been exhausted (e.g. check quota).")
        if kind == "auth":  # the person revoked klapper's access: the refresh token too
            with fake.lock:
                fake.tokens.clear()
                fake.refresh_tokens.clear()
            raise Answer(401, "Request had invalid authentication credentials.")
        if kind == "drop":
            return 0, None, "drop"
        created = fake.create(data)
        return 200, created, "slow" if kind == "timeout_after_accept" else ""
    if method == "GET" and path == posts:
        return 200, fake.listing(query), ""
    if method == "GET" and path.startswith(posts + "/"):
        found = fake.posts.get(path.removeprefix("/v4/"))
        if found is None:
            raise Answer(404, "Requested entity was not found.")
        return 200, found, ""
    if method == "GET" and path == f"/v4/{fake.location}/reviews":
        return 200, fake.review_page(query), ""
    reviews = f"/v4/{fake.location}/reviews/"
    if path.startswith(reviews):
        return fake.review_call(method, path.removeprefix("/v4/"), data)
    if method == "POST" and path == posts + ":reportInsights":
        return 200, fake.insights(data), ""
    raise Answer(404, f"Method not found: {method} {path}")


def _handler(fake: FakeGoogleBusiness) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with fake.lock:
                fake.seen.append((method, url.path, body))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                status, answer, after = _route(
                    fake, method, url.path, parse_qs(url.query), headers, body
                )
            except Answer as error:
                status, answer, after = error.code, error.body, ""
            if after == "drop":
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(2)
                return
            if after == "slow":
                fake.release.wait(fake.slow_seconds)
            if isinstance(answer, tuple):  # a proxy's fault page: (status, headers, bytes)
                _, out_headers, data = answer
            else:
                out_headers = {"Content-Type": "application/json; charset=UTF-8"}
                data = json.dumps(answer).encode()
            self.send_response(status)
            for key, value in out_headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


# --- the contract suite's entry point ---------------------------------------------------------


@dataclass
class Case:
    """One profile connected to a running fake (see tests/adapters/test_contract.py)."""

    fake: FakeGoogleBusiness
    adapter: Any
    lacks: dict[str, str] = field(
        default_factory=lambda: {
            "replies": "local posts take no replies or comments, so there are no threads",
            "interactions": "local posts take no comments, so nobody replies to one; the inbox holds"
            " the place's reviews instead (tests/adapters/test_google_business.py)",
        }
    )

    def posts(self) -> list[dict[str, Any]]:
        return [*self.fake.held(), *self.fake.replies()]

    def reply(self, *, to: str, text: str) -> None:
        raise NotImplementedError("local posts take no replies")

    def incoming(self, text: str) -> Interaction:
        """A review of the place, as the inbox holds it (what an answer answers here)."""
        name = self.fake.add_review(2, text, by="Anna Berger")
        return Interaction(
            remote_id=name,
            kind="review",
            author="Anna Berger",
            text=text,
            url=None,
            created_at=datetime.now(UTC),
            rating=2,
        )

    def fail_next(self, kind: str) -> None:
        self.fake.fail_next(kind)


def make_adapter(
    fake: FakeGoogleBusiness,
    tmp_path: pathlib.Path,
    *,
    token: dict[str, Any] | None = None,
    timeout: float = 1.5,
    saved: list[dict[str, str]] | None = None,
    **settings: Any,
) -> Any:
    from klapper.adapters import create_adapter
    from klapper.adapters.oauth2 import token_secrets

    stored = {
        **token_secrets(token or fake.issue()),
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    return create_adapter(
        name="bakery",
        platform="google-business",
        repo=tmp_path,
        timeout=timeout,
        settings={
            "location": fake.location,
            "api_base": fake.url,
            "oauth_base": fake.url,
            "media_url": "https://media.example.com/shop/",
            **settings,
        },
        secrets=stored,
        save_secrets=saved.append if saved is not None else None,
    )


@contextlib.contextmanager
def adapter_case(tmp_path: pathlib.Path) -> Iterator[Case]:
    from tests.fakes.linkedin import insecure_transport_allowed

    fake = FakeGoogleBusiness()
    with insecure_transport_allowed(), fake.serve():
        adapter = make_adapter(fake, tmp_path)
        try:
            yield Case(fake=fake, adapter=adapter)
        finally:
            adapter.close()
