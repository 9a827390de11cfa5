"""The fake X authorization side: OAuth 2.0 (PKCE, refresh rotation), OAuth 1.0a checks, transport.

X's token endpoint answers errors as ``{"error": ..., "error_description": ...}`` with 400
or 401; access tokens live 7200 s; a used refresh token is spent (rotation).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from oauthlib.oauth1.rfc5849 import signature
from requests.adapters import HTTPAdapter

from klapper.adapters.x.http import API_BASE, TWEEPY_HOST

AUTHORIZE_HOST = "https://x.com"
ORIGIN_HEADER = "X-Fake-Original-Origin"  # added after signing; the fake needs it for OAuth 1.0a


class RewriteTransport(HTTPAdapter):
    """Sends requests for X's hosts to the fake on 127.0.0.1 (tweepy's host is hard-coded)."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = str(request.url)
        for origin in (API_BASE, TWEEPY_HOST, AUTHORIZE_HOST):
            if url.startswith(origin + "/"):
                request.url = self.base_url + url[len(origin) :]
                request.headers[ORIGIN_HEADER] = origin
                break
        return super().send(request, **kwargs)


@dataclass
class Reply:
    """What the fake answers: status, JSON body (or raw bytes), headers; or a dropped line."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


def problem(status: int, title: str, detail: str, kind: str = "about:blank", **extra: Any) -> Reply:
    """X's v2 problem body."""
    return Reply(
        status, {"title": title, "detail": detail, "type": kind, "status": status, **extra}
    )


@dataclass
class Token:
    user_id: str
    scopes: tuple[str, ...]
    expires_at: float


@dataclass
class Client:
    client_id: str
    secret: str | None
    redirect_uris: tuple[str, ...]


class OAuthSide:
    """Clients, authorization codes, access and refresh tokens, and OAuth 1.0a key sets."""

    def __init__(self, *, user_id: str) -> None:
        self.user_id = user_id
        self.lock = threading.Lock()
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.access: dict[str, Token] = {}
        self.refresh: dict[str, Token] = {}
        self.oauth1: dict[str, str] = {}  # the one valid OAuth 1.0a key set
        self.token_requests: list[dict[str, str]] = []  # grant types seen (FakeX records them)
        self.deny_next = False  # the person presses "Cancel" on the consent page
        self.refuse_next_refresh = False  # a revoked refresh token, once

    def register_client(
        self, client_id: str, *, redirect_uri: str, secret: str | None = None
    ) -> None:
        self.clients[client_id] = Client(client_id, secret, (redirect_uri,))

    def issue(
        self, *, scopes: tuple[str, ...], lifetime: float = 7200, user_id: str | None = None
    ) -> dict[str, str]:
        """A fresh access + refresh token pair for the fake user, or for ``user_id``."""
        access, refresh = f"xat-{secrets.token_hex(12)}", f"xrt-{secrets.token_hex(12)}"
        token = Token(user_id or self.user_id, scopes, time.time() + lifetime)
        with self.lock:
            self.access[access] = token
            self.refresh[refresh] = token
        return {
            "access_token": access,
            "refresh_token": refresh,
            "expires_at": str(int(token.expires_at)),
            "expires_in": str(int(lifetime)),
        }

    def expire_access_tokens(self) -> None:
        with self.lock:
            for token in self.access.values():
                token.expires_at = time.time() - 1

    def set_oauth1(self) -> dict[str, str]:
        self.oauth1 = {
            "consumer_key": f"xck-{secrets.token_hex(8)}",
            "consumer_secret": f"xcs-{secrets.token_hex(16)}",
            "access_token": f"{self.user_id}-{secrets.token_hex(12)}",
            "access_token_secret": f"xats-{secrets.token_hex(16)}",
        }
        return dict(self.oauth1)

    # --- checking requests ------------------------------------------------------------------

    def user_for(
        self, *, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> str | None:
        """The user a request is authenticated as, or None (-> 401)."""
        auth = headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            token = self.access.get(auth[len("Bearer ") :])
            return token.user_id if token and token.expires_at > time.time() else None
        if auth.startswith("OAuth ") and self.oauth1:
            return self.user_id if self._oauth1_valid(method, path, query, headers, body) else None
        return None

    def _oauth1_valid(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> bool:
        params = dict(
            signature.collect_parameters(
                headers={"Authorization": headers["Authorization"]}, exclude_oauth_signature=False
            )
        )
        if (
            params.get("oauth_consumer_key") != self.oauth1["consumer_key"]
            or params.get("oauth_token") != self.oauth1["access_token"]
        ):
            return False
        form = headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded")
        collected = signature.collect_parameters(
            uri_query=query,
            body=body.decode() if form else None,
            headers={"Authorization": headers["Authorization"]},
            exclude_oauth_signature=True,
        )
        origin = headers.get(ORIGIN_HEADER, API_BASE)
        base = signature.signature_base_string(
            method,
            signature.base_string_uri(origin + path),
            signature.normalize_parameters(collected),
        )
        expected = signature.sign_hmac_sha1_with_client(
            base,
            _Keys(
                client_secret=self.oauth1["consumer_secret"],
                resource_owner_secret=self.oauth1["access_token_secret"],
            ),
        )
        return secrets.compare_digest(expected, params.get("oauth_signature", ""))

    # --- the endpoints ----------------------------------------------------------------------

    def authorize(self, query: Mapping[str, str]) -> Reply:
        """GET /i/oauth2/authorize: the person agrees at once; 302 back with code and state."""
        client = self.clients.get(query.get("client_id", ""))
        redirect = query.get("redirect_uri", "")
        if client is None or redirect not in client.redirect_uris:
            return Reply(400, b"Something went wrong. You weren't able to give access to the App.")
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
            return Reply(400, b"Unsupported response_type or code_challenge_method.")
        back = {"state": query.get("state", "")}
        if self.deny_next:
            self.deny_next = False
            back["error"] = "access_denied"
        else:
            code = secrets.token_urlsafe(24)
            self.codes[code] = {
                "client_id": client.client_id,
                "redirect_uri": redirect,
                "challenge": query.get("code_challenge", ""),
                "scopes": tuple(query.get("scope", "").split()),
            }
            back["code"] = code
        return Reply(302, b"", {"Location": f"{redirect}?{urlencode(back)}"})

    def token(self, form: Mapping[str, str], headers: Mapping[str, str]) -> Reply:
        """POST /2/oauth2/token: authorization_code (with PKCE) or refresh_token (rotating)."""
        grant = form.get("grant_type", "")
        client = self._client(form, headers)
        if client is None:
            return _oauth_error(401, "unauthorized_client", "Missing valid authorization header")
        with self.lock:
            if grant == "authorization_code":
                return self._exchange_code(client, form)
            if grant == "refresh_token":
                return self._rotate(form)
        return _oauth_error(400, "unsupported_grant_type", f"grant_type {grant!r}")

    def _client(self, form: Mapping[str, str], headers: Mapping[str, str]) -> Client | None:
        auth = headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            client = self.clients.get(client_id)
            return client if client and client.secret == secret else None
        client = self.clients.get(form.get("client_id", ""))
        # Confidential clients must authenticate; public ones only name themselves.
        return client if client and client.secret is None else None

    def _exchange_code(self, client: Client, form: Mapping[str, str]) -> Reply:
        grant = self.codes.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if (
            grant is None
            or grant["client_id"] != client.client_id
            or grant["redirect_uri"] != form.get("redirect_uri")
            or challenge.decode().rstrip("=") != grant["challenge"]
        ):
            return _oauth_error(
                400, "invalid_request", "Value passed for the authorization code was invalid."
            )
        return self._grant(grant["scopes"])

    def _rotate(self, form: Mapping[str, str]) -> Reply:
        old = self.refresh.pop(form.get("refresh_token", ""), None)
        if old is None or self.refuse_next_refresh:
            self.refuse_next_refresh = False
            return _oauth_error(400, "invalid_request", "Value passed for the token was invalid.")
        return self._grant(old.scopes)

    def _grant(self, scopes: tuple[str, ...]) -> Reply:
        access = f"xat-{secrets.token_hex(12)}"
        token = Token(self.user_id, scopes, time.time() + 7200)
        self.access[access] = token
        body = {
            "token_type": "bearer",
            "expires_in": 7200,
            "access_token": access,
            "scope": " ".join(scopes),
        }
        if "offline.access" in scopes:
            refresh = f"xrt-{secrets.token_hex(12)}"
            self.refresh[refresh] = token
            body["refresh_token"] = refresh
        return Reply(200, body)


@dataclass
class _Keys:
    """The two secrets oauthlib's signer reads from its client."""

    client_secret: str
    resource_owner_secret: str


def _oauth_error(status: int, error: str, description: str) -> Reply:
    return Reply(status, {"error": error, "error_description": description})


def split_url(path: str) -> tuple[str, str, dict[str, str]]:
    """Path, raw query and the query as a dict (first value of each key)."""
    url = urlsplit(path)
    return url.path, url.query, dict(parse_qsl(url.query, keep_blank_values=True))
