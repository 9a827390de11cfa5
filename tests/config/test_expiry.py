"""expiring_credentials: which accounts need a new login soon (the 7-day warning)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from klapper.config.expiry import WARN_BEFORE, expiring_credentials, parse_expiry
from klapper.config.platforms import account_settings

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def iso(delta: timedelta) -> str:
    return (NOW + delta).isoformat()


ACCOUNTS = {
    "li-soon": account_settings(platform="linkedin", author="urn:li:person:a"),
    "li-later": account_settings(platform="linkedin", author="urn:li:person:b"),
    "li-gone": account_settings(platform="linkedin", author="urn:li:organization:1"),
    "x-refreshing": account_settings(platform="x"),
    "li-refresh-ending": account_settings(platform="linkedin", author="urn:li:person:c"),
    "li-paused": account_settings(platform="linkedin", author="urn:li:person:d", paused=True),
    "mastodon": account_settings(platform="mastodon", instance="https://example.social"),
    "li-garbled": account_settings(platform="linkedin", author="urn:li:person:e"),
}
SECRETS = {
    "li-soon": {"access_token": "t", "expires_at": iso(timedelta(days=5, hours=2))},
    "li-later": {"access_token": "t", "expires_at": iso(timedelta(days=30))},
    "li-gone": {"access_token": "t", "expires_at": iso(-timedelta(hours=3))},
    # X: a 2-hour access token that klapper refreshes by itself is no reason to warn.
    "x-refreshing": {
        "access_token": "t",
        "expires_at": iso(timedelta(hours=1)),
        "refresh_token": "r",
    },
    "li-refresh-ending": {
        "access_token": "t",
        "expires_at": iso(timedelta(days=50)),
        "refresh_token": "r",
        "refresh_token_expires_at": str((NOW + timedelta(days=2)).timestamp()),
    },
    "li-paused": {"access_token": "t", "expires_at": iso(timedelta(days=1))},
    "mastodon": {"access_token": "t"},
    "li-garbled": {"access_token": "t", "expires_at": "next tuesday"},
}


def test_only_credentials_running_out_within_seven_days_are_reported_soonest_first():
    found = expiring_credentials(accounts=ACCOUNTS, secrets=SECRETS.__getitem__, now=NOW)

    assert [(f.account, f.key) for f in found] == [
        ("li-gone", "access_token"),
        ("li-refresh-ending", "refresh_token"),
        ("li-soon", "access_token"),
    ]
    assert [f.expired(now=NOW) for f in found] == [True, False, False]
    assert timedelta(days=7) == WARN_BEFORE


def test_the_window_is_adjustable():
    found = expiring_credentials(
        accounts=ACCOUNTS, secrets=SECRETS.__getitem__, now=NOW, within=timedelta(days=31)
    )
    assert "li-later" in {f.account for f in found}


def test_messages_show_local_time_and_say_what_to_do():
    found = {
        f.account: f
        for f in expiring_credentials(accounts=ACCOUNTS, secrets=SECRETS.__getitem__, now=NOW)
    }
    berlin = ZoneInfo("Europe/Berlin")

    soon = found["li-soon"].message(tz=berlin, now=NOW)
    assert soon == (
        "linkedin account 'li-soon': the access token expires on 2026-12-06 12:00 CET"
        " (in 5 days); run `klapper login li-soon` to renew it"
    )
    gone = found["li-gone"].message(tz=berlin, now=NOW)
    assert "expired on 2026-12-01 07:00 CET" in gone and "paused" in gone
    assert "the login expires" in found["li-refresh-ending"].message(tz=berlin, now=NOW)


def test_stored_expiries_parse_from_iso_or_epoch_and_never_raise():
    assert parse_expiry("2026-12-01T09:00:00+00:00") == NOW
    assert parse_expiry("2026-12-01T10:00:00+01:00") == NOW
    assert parse_expiry("2026-12-01T09:00:00") == NOW  # stored times are UTC
    assert parse_expiry(str(NOW.timestamp())) == NOW
    assert parse_expiry("soon") is None and parse_expiry(None) is None and parse_expiry("") is None


def test_the_default_reads_the_secrets_store(tmp_path, monkeypatch):
    from klapper.config.secrets import save_secrets

    store = tmp_path / "secrets.yaml"
    monkeypatch.setenv("KLAPPER_SECRETS", str(store))
    save_secrets("li-soon", SECRETS["li-soon"], path=store)
    found = expiring_credentials(accounts={"li-soon": ACCOUNTS["li-soon"]}, now=NOW)
    assert [f.account for f in found] == ["li-soon"]
