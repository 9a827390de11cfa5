"""X credentials never show up in errors, logs or published records (canary values)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from klapper.adapters.base import AdapterError, Outgoing
from klapper.adapters.x.adapter import XAdapter
from klapper.login import LoginError
from tests.adapters.test_x_login import BrowserUI, _free_port, _login
from tests.fakes.x import CLIENT_ID, ME_ID, ME_USERNAME, FakeX
from tests.fakes.x_oauth import Token
from tests.leaks import chain_text

ACCESS = "CANARY-x-access-5c1d9e7a3f"
REFRESH = "CANARY-x-refresh-8b2f6d0e4a"
CLIENT_SECRET = "CANARY-x-client-secret-1e7c3a"
OAUTH1 = {
    "consumer_key": "CANARY-x-ck-4f8a2c",
    "consumer_secret": "CANARY-x-cs-9d3b7e",
    "access_token": f"{ME_ID}-CANARY-x-at1-6a0e2c",
    "access_token_secret": "CANARY-x-ats-3e9f1b",
}
CANARIES = (ACCESS, REFRESH, CLIENT_SECRET, *OAUTH1.values())


def assert_clean(*texts: str) -> None:
    for text in texts:
        for canary in CANARIES:
            assert canary not in text


@pytest.fixture
def fake() -> Iterator[FakeX]:
    with FakeX(slow_seconds=1.5) as made:
        made.oauth.register_client(
            CLIENT_ID, redirect_uri="http://127.0.0.1:8914/callback", secret=CLIENT_SECRET
        )
        scopes = ("tweet.read", "tweet.write", "users.read", "offline.access", "media.write")
        made.oauth.access[ACCESS] = Token(ME_ID, scopes, time.time() + 7200)
        made.oauth.refresh[REFRESH] = Token(ME_ID, scopes, time.time() + 7200)
        made.oauth.oauth1 = dict(OAUTH1)
        yield made


def canary_adapter(
    fake: FakeX, tmp_path: Path, *, oauth1: bool = False, saved: list[dict[str, str]] | None = None
) -> XAdapter:
    secrets = (
        dict(OAUTH1)
        if oauth1
        else {
            "access_token": ACCESS,
            "refresh_token": REFRESH,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "expires_at": str(int(time.time()) + 7200),
        }
    )
    return fake.connect(
        XAdapter(
            name="x",
            settings={"handle": ME_USERNAME},
            secrets=secrets,
            repo=tmp_path,
            timeout=1.0,
            save_secrets=None if saved is None else saved.append,
        )
    )


@pytest.mark.parametrize("oauth1", [False, True], ids=["oauth2", "oauth1"])
@pytest.mark.parametrize(
    "kind", ["server_error", "rate_limit", "auth", "drop", "timeout_after_accept"]
)
def test_errors_carry_no_credentials(
    fake: FakeX, tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str, oauth1: bool
) -> None:
    caplog.set_level(logging.DEBUG)
    adapter = canary_adapter(fake, tmp_path, oauth1=oauth1)
    fake.fail_next(kind)
    fake.fail_next(kind, route="token")  # "auth": the refresh is refused as well
    with pytest.raises(AdapterError) as caught:
        adapter.publish(Outgoing(text=f"x {kind}", idempotency_key="k"))
    assert_clean(chain_text(caught.value), caplog.text)


def test_a_refresh_logs_and_reports_no_credentials(
    fake: FakeX, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    saved: list[dict[str, str]] = []
    adapter = canary_adapter(fake, tmp_path, saved=saved)
    fake.oauth.expire_access_tokens()
    published = adapter.publish(Outgoing(text="after refresh", idempotency_key="k"))
    assert saved and saved[-1]["client_secret"] == CLIENT_SECRET  # kept, but only in the store
    assert caplog.records
    assert_clean(caplog.text, repr(published), str(published.to_json()))

    fake.oauth.expire_access_tokens()
    fake.oauth.refresh.clear()
    with pytest.raises(AdapterError) as caught:
        adapter.publish(Outgoing(text="refused", idempotency_key="k2"))
    assert_clean(chain_text(caught.value), caplog.text)


def test_oauth1_signing_logs_no_keys(
    fake: FakeX, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    adapter = canary_adapter(fake, tmp_path, oauth1=True)
    published = adapter.publish(Outgoing(text="signed", idempotency_key="k"))
    adapter.metrics([published.remote_id])
    assert_clean(caplog.text, repr(published))


def test_a_failed_login_shows_no_client_secret(
    fake: FakeX, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    port = _free_port()
    fake.oauth.register_client(
        "web", redirect_uri=f"http://127.0.0.1:{port}/callback", secret="another-secret"
    )
    ui = BrowserUI(fake, ["web", CLIENT_SECRET])  # the wrong secret: X refuses the code
    with pytest.raises(LoginError) as caught:
        _login(fake, ui, port, method="oauth2", existing={})
    assert_clean(chain_text(caught.value), caplog.text, "\n".join(ui.shown))
