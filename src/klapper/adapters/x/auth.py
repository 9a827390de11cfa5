"""X credentials: OAuth 2.0 user tokens (refreshed before they run out) or OAuth 1.0a user keys."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

import requests
import tweepy
from oauthlib.oauth2 import OAuth2Error
from requests.auth import AuthBase, HTTPBasicAuth
from requests_oauthlib import OAuth1, OAuth2Session

from klapper.adapters.base import AuthExpiredError
from klapper.adapters.x import OAUTH1_KEYS, OAUTH2_KEYS
from klapper.adapters.x.http import API_BASE, XHTTPError

AUTHORIZE_URL = "https://x.com/i/oauth2/authorize"
TOKEN_PATH = "/2/oauth2/token"
#: what klapper asks for; offline.access brings the refresh token, media.write the uploads
SCOPES = ("tweet.read", "tweet.write", "users.read", "offline.access", "media.write")

#: refresh this long before the access token (2 hours) runs out, so no call meets an expired one
REFRESH_MARGIN = 300.0

Kind = Literal["oauth2", "oauth1"]


def credential_kind(secrets: Mapping[str, str], *, account: str) -> Kind:
    """Which of X's two user-context schemes ``secrets`` hold; AuthExpiredError if neither."""
    if all(secrets.get(key) for key in OAUTH1_KEYS):
        return "oauth1"
    if secrets.get("access_token") and not secrets.get("consumer_key"):
        return "oauth2"
    have = set(secrets)
    wanted = OAUTH1_KEYS if "consumer_key" in have else OAUTH2_KEYS
    missing = ", ".join(key for key in wanted if not secrets.get(key))
    raise AuthExpiredError(
        f"X account {account!r} has no usable credentials (missing: {missing});"
        f" run `klapper login {account}`"
    )


class _Bearer(AuthBase):
    """Adds the current OAuth 2.0 access token, read at send time so a refresh applies."""

    def __init__(self, auth: XAuth) -> None:
        self._auth = auth

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._auth.secrets['access_token']}"
        return request


def _raise_server_errors(response: requests.Response) -> requests.Response:
    # oauthlib would read a 5xx page as "missing token"; let the adapter call it transient.
    if response.status_code >= 500 or response.status_code == 429:
        raise XHTTPError(response)
    return response


class XAuth:
    """One account's X credentials: signs requests, builds the tweepy client, refreshes tokens.

    ``on_refresh`` receives the changed secrets (access_token, refresh_token, expires_at as
    epoch seconds) to persist them: X rotates refresh tokens, so a lost one means a new login.
    """

    def __init__(
        self,
        *,
        account: str,
        secrets: Mapping[str, str],
        on_refresh: Callable[[dict[str, str]], None],
        timeout: float,
        api_base: str = API_BASE,
    ) -> None:
        self.account = account
        self.secrets = secrets
        self._on_refresh = on_refresh
        self._timeout = timeout
        self._token_url = api_base.rstrip("/") + TOKEN_PATH
        self._lock = threading.Lock()
        # requests-oauthlib's session does the refresh; it is a requests.Session, so the
        # adapter can mount transports on it like on the others.
        self.token_session = OAuth2Session(client_id=secrets.get("client_id"))
        self.token_session.register_compliance_hook("refresh_token_response", _raise_server_errors)

    @property
    def kind(self) -> Kind:
        """Decided at each use, so an account without credentials fails only when used."""
        return credential_kind(self.secrets, account=self.account)

    @property
    def user_auth(self) -> bool:
        """tweepy's ``user_auth`` flag: True signs with OAuth 1.0a, False sends the bearer."""
        return self.kind == "oauth1"

    def tweepy_client(self, session: requests.Session) -> tweepy.Client:
        """A tweepy v2 client on ``session``; never sleeps on a rate limit."""
        if self.kind == "oauth1":
            client = tweepy.Client(
                consumer_key=self.secrets["consumer_key"],
                consumer_secret=self.secrets["consumer_secret"],
                access_token=self.secrets["access_token"],
                access_token_secret=self.secrets["access_token_secret"],
                return_type=dict,
                wait_on_rate_limit=False,
            )
        else:
            client = tweepy.Client(
                bearer_token=self.secrets["access_token"],
                return_type=dict,
                wait_on_rate_limit=False,
            )
        client.session = session
        return client

    def requests_auth(self) -> AuthBase:
        """Auth for klapper's own requests (media upload) with the same credentials."""
        if self.kind == "oauth1":
            return OAuth1(
                self.secrets["consumer_key"],
                self.secrets["consumer_secret"],
                self.secrets["access_token"],
                self.secrets["access_token_secret"],
            )
        return _Bearer(self)

    def can_refresh(self) -> bool:
        return self.kind == "oauth2" and bool(
            self.secrets.get("refresh_token") and self.secrets.get("client_id")
        )

    def expires_soon(self, *, now: float | None = None) -> bool:
        """True when the OAuth 2.0 access token runs out within ``REFRESH_MARGIN``."""
        expires_at = self.secrets.get("expires_at")
        if self.kind != "oauth2" or not expires_at:
            return False
        return float(expires_at) - (time.time() if now is None else now) < REFRESH_MARGIN

    def refresh(self, *, failed_token: str | None = None) -> bool:
        """Get a new access token with the refresh token; False when this account cannot.

        ``failed_token`` is the token a 401 came back for: if another call already replaced
        it, nothing is done (X rotates refresh tokens; a needless refresh costs one).
        """
        if not self.can_refresh():
            return False
        with self._lock:
            if failed_token is not None and failed_token != self.secrets["access_token"]:
                return True
            client_id = self.secrets["client_id"]
            secret = self.secrets.get("client_secret")
            # Confidential clients authenticate with HTTP Basic; public ones name client_id.
            extra: dict[str, Any] = {} if secret else {"client_id": client_id}
            try:
                token = self.token_session.refresh_token(
                    self._token_url,
                    refresh_token=self.secrets["refresh_token"],
                    auth=HTTPBasicAuth(client_id, secret) if secret else None,
                    timeout=self._timeout,
                    **extra,
                )
            except OAuth2Error as exc:
                raise AuthExpiredError(
                    f"X refused to renew the access token of {self.account!r}"
                    f" ({exc.error}: {exc.description or 'no reason given'});"
                    f" run `klapper login {self.account}`"
                ) from exc
            changed = {
                "access_token": token["access_token"],
                "refresh_token": token.get("refresh_token") or self.secrets["refresh_token"],
                "expires_at": str(int(token.get("expires_at") or time.time() + 7200)),
            }
            self._on_refresh(changed)
            return True
