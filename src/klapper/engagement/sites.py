"""Reading the website's analytics: what a reader returns, its one HTTP call and its errors.

A reader (``engagement.matomo``, ``engagement.plausible``) answers one question: visits,
visitors and goal conversions per campaign, source and day over a range of days, in as few
requests as its API allows, never more than the budget it is given. Every fault is one
``SiteError`` whose message is one line for the user (the token is never in it): a refused
token (401/403), a server error, no answer within the timeout, an answer that is not the
API's (Matomo's ``{"result": "error"}`` with status 200 among them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

import requests

from klapper.config.analytics import SECRETS_ENTRY, TOKEN_KEY
from klapper.config.secrets import env_name, redact

#: how much of a server's own words an error quotes
_MAX_SAID = 160


@dataclass(frozen=True)
class SiteRow:
    """The site's figures for one campaign from one source on one day (the site's own day)."""

    campaign: str
    source: str
    day: date
    visits: int
    visitors: int | None = None  # None: the tool does not say (Matomo without unique visitors)
    goals: int | None = None  # goal conversions; None: the tool does not say


@dataclass
class WindowRead:
    """What one read of a range of days brought: rows, requests spent, whether it is whole."""

    rows: list[SiteRow] = field(default_factory=list)
    requests: int = 0
    complete: bool = True  # False: the budget ran out before the last page


class SiteError(Exception):
    """The analytics could not be read; the message is one line for the user."""

    def __init__(self, message: str, *, requests: int = 1, refused: bool = False) -> None:
        super().__init__(message)
        self.requests = requests
        self.refused = refused  # the token was refused (401/403): the user must act


class SiteReader(Protocol):
    """Reads one site's visits; ``sources`` are the utm_source values klapper's links carry."""

    tool: str

    def read(self, *, start: date, end: date, sources: Sequence[str], budget: int) -> WindowRead:
        """Rows for the days ``start`` to ``end`` (both included); raises ``SiteError``."""
        ...


Send = Callable[..., requests.Response]


class SiteClient:
    """One analytics server: POSTs with the token, turns every fault into one ``SiteError``."""

    def __init__(
        self,
        *,
        tool: str,
        base: str,
        token: str,
        timeout: float,
        session: requests.Session | None = None,
    ) -> None:
        self.tool = tool
        self.base = base.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.session = session or requests.Session()

    @property
    def host(self) -> str:
        return self.base.split("://", 1)[-1].split("/", 1)[0]

    def post(self, path: str, **kwargs: Any) -> Any:
        """The JSON answer of ``POST base + path``; ``SiteError`` for anything else."""
        where = f"{self.tool} at {self.host}"
        try:
            answer = self.session.post(self.base + path, timeout=self.timeout, **kwargs)
        except requests.Timeout:
            raise SiteError(f"{where} did not answer within {self.timeout:g} s") from None
        except requests.RequestException as exc:
            raise SiteError(f"{where} could not be reached ({type(exc).__name__})") from None
        said = self._said(answer)
        if answer.status_code in (401, 403):
            raise SiteError(
                f"{where} refused the token (HTTP {answer.status_code}{said}); store a valid "
                f"one as the secret {SECRETS_ENTRY} › {TOKEN_KEY} "
                f"({env_name(SECRETS_ENTRY, TOKEN_KEY)})",
                refused=True,
            )
        if answer.status_code == 429:
            raise SiteError(f"{where} limits the requests (HTTP 429{said}); trying again later")
        if answer.status_code >= 400:
            raise SiteError(f"{where} answered HTTP {answer.status_code}{said}")
        try:
            return answer.json()
        except ValueError:
            kind = answer.headers.get("Content-Type", "no type").split(";")[0]
            raise SiteError(
                f"{where} answered {kind} instead of JSON; is the url in klapper.yaml's "
                "analytics right?"
            ) from None

    def _said(self, answer: requests.Response) -> str:
        """The server's own words (its ``error`` or ``message``), redacted and short."""
        try:
            body = answer.json()
        except ValueError:
            return ""
        words = body.get("error") or body.get("message") if isinstance(body, Mapping) else None
        return f": {self.redact(str(words))}" if words else ""

    def redact(self, text: str) -> str:
        return redact(" ".join(text.split()), [self.token])[:_MAX_SAID]


def as_count(value: Any) -> int | None:
    """A figure from a JSON answer: a whole number, or None when absent or not a number."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
