"""The Threads token kept fresh: a long-lived token refreshed once it is a day old.

A long-lived Threads token lasts 60 days and can be refreshed (``GET /refresh_access_token
?grant_type=th_refresh_token``) once it is at least 24 hours old and before it expires; the new
one lasts 60 days from then (developers.facebook.com/docs/threads/get-started/long-lived-tokens).
``refresh_due`` says when; ``refresh`` asks Meta and returns what the secrets store keeps. An
expired token cannot be refreshed: only `klapper login` helps then, and the expiry warning says
so 7 days ahead (``config.expiry``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from klapper.adapters.base import TransientError
from klapper.adapters.meta.graph import GraphClient
from klapper.adapters.meta.login import expires_at
from klapper.config.expiry import parse_expiry

#: how old a token must be before Meta refreshes it
REFRESH_AGE = timedelta(days=1)
#: how long a long-lived token lasts: its age when only ``expires_at`` is known
LONG_LIVED = timedelta(days=60)


def issued(secrets: Mapping[str, str]) -> datetime | None:
    """When the stored token was made: ``issued_at``, else 60 days before ``expires_at``."""
    made = parse_expiry(secrets.get("issued_at"))
    if made is not None:
        return made
    ends = parse_expiry(secrets.get("expires_at"))
    return ends - LONG_LIVED if ends is not None else None


def refresh_due(secrets: Mapping[str, str], *, now: datetime | None = None) -> bool:
    """Whether the token is at least a day old and not yet expired (Meta refreshes only then)."""
    now = now or datetime.now(UTC)
    made = issued(secrets)
    ends = parse_expiry(secrets.get("expires_at"))
    if made is None or not secrets.get("access_token"):
        return False
    return now - made >= REFRESH_AGE and (ends is None or ends > now)


def refresh(*, account: str, token: str, base: str, timeout: float) -> dict[str, str]:
    """A new long-lived token for ``token``: the secrets it amounts to (never logged)."""
    client = GraphClient(
        platform="Threads", account=account, token=token, base=base, version="", timeout=timeout
    )
    try:
        answer = client.call(
            "GET",
            "refresh_access_token",
            what="refresh the access token",
            params={"grant_type": "th_refresh_token", "access_token": token},
        )
    finally:
        client.close()
    if not answer.get("access_token"):
        raise TransientError("Threads refreshed the access token but sent none back")
    now = datetime.now(UTC).replace(microsecond=0)
    kept = {"access_token": str(answer["access_token"]), "issued_at": now.isoformat()}
    ends = expires_at(answer.get("expires_in"), now=now.timestamp())
    if ends:
        kept["expires_at"] = ends
    return kept
