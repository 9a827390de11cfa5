"""Which accounts' credentials run out soon, from the ``expires_at`` their secrets store.

A credential that klapper renews by itself (an access token with a refresh token beside it)
is not a worry; what runs out for good is the refresh token (``refresh_token_expires_at``)
or, without one, the access token (``expires_at``; LinkedIn's live about 60 days).
`klapper status` and the notify hook call ``expiring_credentials`` and warn 7 days ahead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from klapper.config.platforms import AccountSettings
from klapper.config.secrets import load_secrets

#: how long before a credential runs out klapper starts warning
WARN_BEFORE = timedelta(days=7)


@dataclass(frozen=True, order=True)
class ExpiringCredential:
    """One account whose credential runs out at ``expires_at`` (aware UTC) or already has."""

    expires_at: datetime
    account: str
    platform: str
    key: str  # the secret that runs out: "access_token" or "refresh_token"

    def expired(self, *, now: datetime | None = None) -> bool:
        return self.expires_at <= (now or datetime.now(UTC))

    def message(self, *, tz: tzinfo | None, now: datetime | None = None) -> str:
        """One line for a person: which account, when (local time), what to do."""
        now = now or datetime.now(UTC)
        local = self.expires_at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z").strip()
        what = "login" if self.key == "refresh_token" else "access token"
        if self.expired(now=now):
            state = f"expired on {local}; publishing to it is paused"
        else:
            left = self.expires_at - now
            hours = left.seconds // 3600
            span = (
                f"{left.days} days"
                if left.days >= 1
                else f"{hours} hours"
                if hours
                else "less than an hour"
            )
            state = f"expires on {local} (in {span})"
        return (
            f"{self.platform} account {self.account!r}: the {what} {state};"
            f" run `klapper login {self.account}` to renew it"
        )


def expiring_credentials(
    *,
    accounts: Mapping[str, AccountSettings],
    secrets: Callable[[str], Mapping[str, str]] = load_secrets,
    within: timedelta = WARN_BEFORE,
    now: datetime | None = None,
) -> list[ExpiringCredential]:
    """Accounts whose credentials run out within ``within`` of ``now`` (or already have).

    ``secrets`` returns one account's stored credentials (default: ``config.secrets``);
    paused accounts are skipped. The soonest comes first.
    """
    now = now or datetime.now(UTC)
    found = []
    for name, account in accounts.items():
        if account.paused:
            continue
        stored = secrets(name)
        if stored.get("refresh_token"):
            key, at = "refresh_token", parse_expiry(stored.get("refresh_token_expires_at"))
        else:
            key, at = "access_token", parse_expiry(stored.get("expires_at"))
        if at is not None and at <= now + within:
            found.append(ExpiringCredential(at, name, account.platform, key))
    return sorted(found)


def parse_expiry(value: str | None) -> datetime | None:
    """A stored expiry (ISO 8601, or epoch seconds as some tokens give it) as aware UTC.

    Unreadable values count as unknown (None): a warning must never stop klapper.
    """
    if not value:
        return None
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
