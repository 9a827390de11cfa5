"""LinkedIn credentials never show up in errors, logs or published records (canary values)."""

from __future__ import annotations

import logging
import time

import pytest

from klapper.adapters.base import AdapterError, Outgoing
from klapper.login import LoginError
from tests.adapters.test_linkedin_login import APP, BrowserUI, run
from tests.fakes.linkedin import (
    CLIENT_SECRET,
    DAY,
    FakeLinkedIn,
    Token,
    insecure_transport_allowed,
    make_adapter,
)
from tests.leaks import chain_text

ACCESS = "CANARY-li-access-7f3a9c1e5b"
REFRESH = "CANARY-li-refresh-2d8e4b6a0c"
CANARIES = (ACCESS, REFRESH, CLIENT_SECRET)


def assert_clean(*texts: str) -> None:
    for text in texts:
        for canary in CANARIES:
            assert canary not in text


@pytest.fixture
def fake():
    with insecure_transport_allowed(), FakeLinkedIn().serve() as server:
        scopes = frozenset({"openid", "profile", "w_member_social", "r_member_social"})
        server.tokens[ACCESS] = Token(scopes, time.time() + 60 * DAY)
        server.refresh[REFRESH] = Token(scopes, time.time() + 365 * DAY)
        yield server


def canary_adapter(fake, tmp_path, saved=None):
    token = {"access_token": ACCESS, "expires_in": 60 * DAY, "refresh_token": REFRESH}
    return make_adapter(fake, tmp_path, token=token, saved=saved, timeout=0.5)


@pytest.mark.parametrize(
    "kind",
    [
        "server_error",
        "bad_gateway",
        "rate_limit",
        "auth",
        "forbidden",
        "invalid",
        "drop",
        "timeout_after_accept",
    ],
)
def test_errors_carry_no_credentials(fake, tmp_path, caplog, kind):
    caplog.set_level(logging.DEBUG)
    adapter = canary_adapter(fake, tmp_path)
    fake.fail_next(kind)
    fake.fail_next(kind)  # "auth" twice: after the refresh, too
    with pytest.raises(AdapterError) as caught:
        adapter.publish(Outgoing(text="x", idempotency_key="k"))
    assert_clean(chain_text(caught.value), caplog.text)


def test_a_refresh_logs_and_reports_no_credentials(fake, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    saved: list[dict[str, str]] = []
    adapter = canary_adapter(fake, tmp_path, saved=saved)
    fake.expire(ACCESS)
    published = adapter.publish(Outgoing(text="after refresh", idempotency_key="k"))
    assert saved and saved[-1]["refresh_token"] == REFRESH  # kept, but only in the store
    assert_clean(caplog.text, repr(published), str(published.to_json()))

    fake.expire(saved[-1]["access_token"])
    fake.refresh.clear()
    with pytest.raises(AdapterError) as caught:
        adapter.publish(Outgoing(text="refused", idempotency_key="k2"))
    assert_clean(chain_text(caught.value), caplog.text)


def test_a_failed_login_shows_no_client_secret(fake, caplog):
    caplog.set_level(logging.DEBUG)
    fake.deny_login = True
    ui = BrowserUI(APP)
    with pytest.raises(LoginError) as caught:
        run(fake, ui)
    assert_clean(chain_text(caught.value), caplog.text, "\n".join(ui.shown))
