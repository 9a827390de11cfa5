"""`klapper login` for Threads end to end against the fake Threads API and its consent page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest

from klapper.adapters.base import Outgoing
from klapper.adapters.threads.login import SCOPES, login
from klapper.config.platforms import account_settings
from klapper.login import LoginError
from tests.adapters.test_linkedin_login import BrowserUI
from tests.fakes.meta import APP_ID, APP_SECRET
from tests.fakes.threads import USER, USERNAME, FakeThreads, make_adapter

APP = {"Threads app ID": APP_ID, "Threads app secret": APP_SECRET}


def run(fake: FakeThreads, ui: BrowserUI, *, existing: dict[str, str] | None = None):
    return login(
        name="shop-threads",
        account=account_settings(platform="threads", media_url="https://example.com/m"),
        existing=existing or {},
        ui=ui,
        api_base=fake.url,
        oauth_base=fake.url,
        port=0,
        timeout=5,
    )


def test_the_code_becomes_a_60_day_token_that_publishes(tmp_path):
    with FakeThreads().serve() as fake:
        ui = BrowserUI(APP)
        credentials = run(fake, ui)
        assert [text for text, _ in ui.asked] == ["Threads app ID", "Threads app secret"]
        assert ui.asked[1][1] is True  # the secret is not echoed
        dialog = parse_qs(ui.opened[0].split("?", 1)[1])
        assert ui.opened[0].startswith(f"{fake.url}/oauth/authorize?")
        assert dialog["scope"] == [",".join(SCOPES)] and dialog["client_id"] == [APP_ID]
        (code,) = fake.calls("\x00oauth/access_token")
        assert code.method == "POST" and code.params["grant_type"] == "authorization_code"
        (exchange,) = fake.calls("\x00access_token")
        assert exchange.params["grant_type"] == "th_exchange_token"
        assert credentials["user_id"] == USER and credentials["username"] == USERNAME
        assert credentials["app_secret"] == APP_SECRET
        expires = datetime.fromisoformat(credentials["expires_at"])
        assert timedelta(days=59) < expires - datetime.now(UTC) <= timedelta(days=60)
        assert any(f"@{USERNAME}" in line and "lasts 60 days" in line for line in ui.shown)
        for line in ui.shown:
            assert credentials["access_token"] not in line and APP_SECRET not in line

        adapter = make_adapter(fake, tmp_path, secrets=credentials)
        published = adapter.publish(Outgoing(text="Nach dem Login", idempotency_key="k"))
        assert fake.posts[published.remote_id]["text"] == "Nach dem Login"
        assert fake.calls("\x00refresh_access_token") == []  # a new token is not refreshed


def test_a_second_login_keeps_the_app_and_asks_nothing():
    with FakeThreads().serve() as fake:
        ui = BrowserUI({})
        credentials = run(fake, ui, existing={"app_id": APP_ID, "app_secret": APP_SECRET})
        assert ui.asked == [] and credentials["access_token"]


def test_a_wrong_app_secret_fails_the_login_without_showing_it():
    with FakeThreads().serve() as fake:
        ui = BrowserUI({"Threads app ID": APP_ID, "Threads app secret": "wrong-secret-123"})
        with pytest.raises(LoginError, match="client secret") as raised:
            run(fake, ui)
        assert "wrong-secret-123" not in str(raised.value)
