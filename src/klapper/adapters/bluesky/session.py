"""A Bluesky XRPC connection: the session (create, resume, refresh) and errors as klapper's own.

The session is made with ``com.atproto.server.createSession`` (handle + app password) and kept
alive with ``refreshSession``; atproto's ``Client.login()`` is not used because it also fetches
the profile from an AppView, which a self-hosted PDS may not have. ``translate`` handles what only
Bluesky means (XRPC error names that refuse a token, 403, 409), then ``http_errors.error_for``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import httpx
from atproto_client import models
from atproto_client.client.raw import ClientRaw
from atproto_client.exceptions import RateLimitExceededError, RequestErrorBase
from atproto_client.models.common import XrpcError
from atproto_client.request import Request
from atproto_core.exceptions import AtProtocolError

from klapper.adapters.base import (
    AdapterError,
    AuthExpiredError,
    TransientError,
)
from klapper.adapters.http_errors import error_for, reason_of, renew_once
from klapper.adapters.identity import mismatch_error

T = TypeVar("T")

DEFAULT_SERVICE = "https://bsky.social"
# Errors that a new access token can cure (the reference PDS answers 400 for the first two).
_TOKEN_ERRORS = frozenset({"ExpiredToken", "InvalidToken", "AuthenticationRequired"})
CALL_ERRORS = (AtProtocolError, httpx.HTTPError)
# What a PDS says about a valid token for an account it does not hold (e.g. reset, or moved).
_UNKNOWN_ACCOUNT = "Could not find user info for account"


@dataclass(frozen=True)
class Tokens:
    """A live session: whose it is and its two tokens (both secrets)."""

    did: str
    handle: str
    access_jwt: str
    refresh_jwt: str


@dataclass(frozen=True)
class Identity:
    """Whose a session is: the account's DID and handle on a service (PDS URL)."""

    did: str
    handle: str
    service: str

    def names(self, identifier: str) -> bool:
        """True when ``identifier`` (a handle or DID, as klapper.yaml gives it) is this account."""
        wanted = identifier.lstrip("@").casefold()
        return wanted in (self.did.casefold(), self.handle.casefold())

    def describe(self) -> str:
        where = f" on {self.service}" if self.service else ""
        return f"@{self.handle or '?'} ({self.did or 'unknown DID'}){where}"

    def entries(self) -> dict[str, str]:
        """The secrets that record this identity."""
        return {"did": self.did, "handle": self.handle, "service": self.service}


def error_parts(exc: BaseException | None) -> tuple[int | None, str, str]:
    """(HTTP status, XRPC error name, server message) of a failed call; status None if no answer."""
    response = getattr(exc, "response", None) if isinstance(exc, RequestErrorBase) else None
    if response is None:
        return None, "", ""
    content = response.content
    if isinstance(content, XrpcError):
        return response.status_code, content.error or "", content.message or ""
    # Not XRPC's JSON (a proxy's HTML page): its title, or nothing.
    said = reason_of(content, status=None) if isinstance(content, bytes) and content else ""
    return response.status_code, "", said if said != "no answer" else ""


def is_token_problem(exc: BaseException) -> bool:
    """The call was refused for its token (expired, invalid, revoked), not for what it asked."""
    status, error, _ = error_parts(exc)
    return status == 401 or (status == 400 and error in _TOKEN_ERRORS)


def is_stale_session(exc: BaseException) -> bool:
    """A kept session the server will not resume: a refused token, or an account it forgot."""
    status, error, message = error_parts(exc)
    return is_token_problem(exc) or (
        status == 400 and error == "InvalidRequest" and message.startswith(_UNKNOWN_ACCOUNT)
    )


def translate(
    exc: BaseException, *, action: str, timeout: float, account: str | None = None
) -> AdapterError:
    """The klapper error for a failed XRPC call; the message is the server's, never a token."""
    if isinstance(exc, httpx.TimeoutException) or isinstance(exc.__cause__, httpx.TimeoutException):
        return TransientError(f"{action}: no answer from the Bluesky server within {timeout:g} s")
    status, error, message = error_parts(exc)
    if status is None:
        # The type only: a malformed answer's text could quote tokens back.
        reason = type(exc.__cause__ or exc).__name__
        return TransientError(f"{action}: connection to the Bluesky server failed ({reason})")
    said = ": ".join(part for part in (error, message) if part) or f"HTTP {status}"
    if is_token_problem(exc) or status == 403:
        return AuthExpiredError(f"{action}: Bluesky refused the credentials ({said})")
    if status == 409:  # a repository write that met a concurrent one: try again
        return TransientError(f"{action}: the Bluesky server failed ({status} {said})")
    response = getattr(exc, "response", None)
    limited = exc if isinstance(exc, RateLimitExceededError) else None
    return error_for(
        platform="Bluesky",
        status=status,
        action=action,
        relogin=f"run `klapper login {account}`" if account else "log in again",
        headers=getattr(response, "headers", None),
        reason=said,
        rate_reset=limited.reset_at if limited else None,
    )


def open_client(*, service: str, timeout: float) -> ClientRaw:
    """A raw XRPC client for ``service`` (a PDS URL); no session yet."""
    return ClientRaw(base_url=service, request=Request(timeout=httpx.Timeout(timeout)))


def create_session(client: ClientRaw, *, identifier: str, password: str) -> Tokens:
    """Log in with a handle (or DID, or email) and an app password; raises the atproto error."""
    made = client.com.atproto.server.create_session(
        models.ComAtprotoServerCreateSession.Data(identifier=identifier, password=password)
    )
    return Tokens(made.did, made.handle, made.access_jwt, made.refresh_jwt)


class Session:
    """One account's XRPC connection that keeps its session alive across expiry and restarts.

    ``secrets`` may hold a kept session (``access_jwt``/``refresh_jwt`` with the ``did``,
    ``handle`` and ``service`` it belongs to) and ``app_password`` (to start a new one). A kept
    session is used only for the account ``identifier`` names on ``service``: one of another
    account, or one the server no longer knows, gives way to a login with the app password (or,
    without one, an ``IdentityMismatchError`` / ``AuthExpiredError``). ``on_save`` receives the
    secrets to keep: new tokens and whose they are.
    """

    def __init__(
        self,
        *,
        service: str,
        identifier: str | None,
        secrets: Mapping[str, str],
        timeout: float,
        account: str,
        on_save: Callable[[dict[str, str]], None],
    ) -> None:
        self.timeout = timeout
        self.service = service.rstrip("/")
        self.client = open_client(service=service, timeout=timeout)
        self.client.request.add_additional_headers_source(self._auth_header)
        self._identifier = (identifier or "").lstrip("@") or None
        self._password = secrets.get("app_password") or None
        self._access = secrets.get("access_jwt") or None
        self._refresh = secrets.get("refresh_jwt") or None
        self._had_session = bool(self._access or self._refresh)
        self._kept = Identity(
            did=secrets.get("did") or "",
            handle=secrets.get("handle") or "",
            service=(secrets.get("service") or "").rstrip("/"),
        )
        self._account = account
        self._on_save = on_save
        self._did: str | None = None
        self._other: Identity | None = None  # a kept session's account that was not ours
        self._lock = threading.RLock()

    def _auth_header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._access}"} if self._access else {}

    @property
    def did(self) -> str:
        """The account's DID (asks the server once when resuming a kept session)."""
        with self._lock:
            if self._did is None:
                self.call(lambda c: None, action="start the Bluesky session")
            assert self._did is not None
            return self._did

    def call(self, fn: Callable[[ClientRaw], T], *, action: str) -> T:
        """Run ``fn`` with a live session; renew it once if the token is refused."""

        def run() -> T:
            if self._did is None:
                self._start(action=action)
            return fn(self.client)

        def renew() -> bool:
            # Refused for its token before anything was done: renew and try once more.
            self._renew(action=action)
            return True

        with self._lock:
            try:
                return renew_once(run, renew=renew, refused=is_token_problem)
            except CALL_ERRORS as exc:
                raise self._translate(exc, action=action) from exc

    def _translate(self, exc: BaseException, *, action: str) -> AdapterError:
        return translate(exc, action=action, timeout=self.timeout, account=self._account)

    def _start(self, *, action: str) -> None:
        """Resume the kept session if it is the named account's on this service, else log in."""
        if self._kept.service and self._kept.service != self.service:
            # Never send a session's tokens to another server than the one that issued them.
            self._drop(self._kept)
        if self._access:
            try:
                got = self.client.com.atproto.server.get_session()
            except CALL_ERRORS as exc:
                if not is_stale_session(exc):
                    raise self._translate(exc, action=action) from exc
                self._access = None  # expired, revoked, or an account the server forgot
            else:
                if self._accept(Identity(got.did, got.handle, self.service)):
                    return
        self._renew(action=action)

    def _accept(self, found: Identity) -> bool:
        """Take the kept session if ``found`` is the named account; record whose it is."""
        if self._identifier and not found.names(self._identifier):
            self._drop(found)
            return False
        self._did = found.did
        if found != self._kept:  # first check of a session kept without its owner, or renamed
            self._kept = found
            self._on_save(found.entries())
        return True

    def _drop(self, other: Identity) -> None:
        self._other = other
        self._access = self._refresh = None

    def _renew(self, *, action: str) -> None:
        """A new access token: refresh the kept session, else log in with the app password."""
        if self._refresh:
            try:
                fresh = self.client.com.atproto.server.refresh_session(
                    headers={"Authorization": f"Bearer {self._refresh}"}
                )
            except CALL_ERRORS as exc:
                if not is_stale_session(exc):
                    raise self._translate(exc, action=action) from exc
                self._refresh = None  # expired or revoked: only the app password can help now
            else:
                tokens = Tokens(fresh.did, fresh.handle, fresh.access_jwt, fresh.refresh_jwt)
                if not self._identifier or Identity(tokens.did, tokens.handle, "").names(
                    self._identifier
                ):
                    self._keep(tokens)
                    return
                self._drop(Identity(tokens.did, tokens.handle, self.service))
        if not (self._password and self._identifier):
            self._access = None
            raise self._cannot_log_in(action)
        self._access = None  # no stale bearer token on the login request
        try:
            tokens = create_session(
                self.client, identifier=self._identifier, password=self._password
            )
        except CALL_ERRORS as exc:
            error = self._translate(exc, action=action)
            if isinstance(error, AuthExpiredError):
                raise AuthExpiredError(
                    f"{error}; the app password of account {self._account!r} no longer works: "
                    f"create a new one and run `klapper login {self._account}`"
                ) from exc
            raise error from exc
        self._keep(tokens)

    def _cannot_log_in(self, action: str) -> AuthExpiredError:
        if self._other is not None and self._identifier:
            return mismatch_error(
                account=self._account,
                platform="Bluesky",
                stored=self._other.describe(),
                named=f"@{self._identifier} on {self.service}",
            )
        # Only a session that existed can have expired.
        lost = "has expired" if self._had_session else "does not exist (never logged in)"
        return AuthExpiredError(
            f"{action}: the Bluesky session of account {self._account!r} {lost} and no "
            f"app password is stored; run `klapper login {self._account}`"
        )

    def _keep(self, tokens: Tokens) -> None:
        self._access, self._refresh, self._did = tokens.access_jwt, tokens.refresh_jwt, tokens.did
        self._kept = Identity(tokens.did, tokens.handle, self.service)
        self._on_save(
            {
                "access_jwt": tokens.access_jwt,
                "refresh_jwt": tokens.refresh_jwt,
                **self._kept.entries(),
            }
        )

    def close(self) -> None:
        self.client.request.close()
