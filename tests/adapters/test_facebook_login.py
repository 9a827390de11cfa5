"""`klapper login` for a Facebook Page end to end against the fake Graph API and its dialog.

The test plays the browser: opening the dialog URL follows its 302 to klapper's listener on
127.0.0.1, as a browser would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest

from klapper.adapters.base import Outgoing
from klapper.adapters.facebook.login import SCOPES, login
from klapper.adapters.identity import is_checked
from klapper.config.expiry import expiring_credentials
from klapper.config.platforms import account_settings
from klapper.login import LoginError
from tests.adapters.test_linkedin_login import BrowserUI
from tests.fakes.facebook import PAGE, PAGE_NAME, FakeFacebook, make_adapter
from tests.fakes.meta import APP_ID, APP_SECRET

APP = {"Meta app ID": APP_ID, "Meta app secret": APP_SECRET}


@pytest.fixture
def fake():
    with FakeFacebook().serve() as server:
        yield server


def run(
    fake: FakeFacebook, ui: BrowserUI, *, existing: dict[str, str] | None = None, page: str = PAGE
) -> dict[str, str]:
    return login(
        name="shop",
        account=account_settings(platform="facebook", page=page),
        existing=existing or {},
        ui=ui,
        graph_base=fake.url,
        oauth_base=fake.url,
        port=0,
        timeout=5,
    )


def test_the_page_token_is_derived_at_login_and_publishes(fake, tmp_path):
    ui = BrowserUI(APP)
    credentials = run(fake, ui)

    assert ui.asked == [("Meta app ID", False), ("Meta app secret", True)]
    dialog = parse_qs(ui.opened[0].split("?", 1)[1])
    assert dialog["scope"] == [",".join(SCOPES)] and dialog["client_id"] == [APP_ID]
    assert dialog["redirect_uri"][0].startswith("http://127.0.0.1:")
    grant = fake.tokens[credentials["access_token"]]
    assert (grant.kind, grant.subject) == ("page", PAGE)
    # The code was exchanged, then the short token for a long-lived one.
    exchanges = fake.calls("oauth/access_token")
    assert "code" in exchanges[0].params
    assert exchanges[1].params["grant_type"] == "fb_exchange_token"
    assert credentials["app_id"] == APP_ID and "expires_at" not in credentials
    assert (credentials["page_id"], credentials["page_name"]) == (PAGE, PAGE_NAME)
    assert is_checked(credentials, credential="access_token")
    assert any("does not expire" in line for line in ui.shown)
    for line in ui.shown:
        assert APP_SECRET not in line and credentials["access_token"] not in line

    adapter = make_adapter(fake, tmp_path, token=credentials["access_token"])
    adapter.update_secrets(**credentials)
    asked = len(fake.calls("me"))
    published = adapter.publish(Outgoing(text="Nach dem Login", idempotency_key="k"))
    assert fake.posts[published.remote_id]["message"] == "Nach dem Login"
    assert len(fake.calls("me")) == asked  # the login's record is believed


def test_an_expiring_page_token_is_stored_and_warned_about(fake, monkeypatch):
    # A Page token derived from a short-lived user token expires with it; debug_token says when.
    original = fake.issue

    def issue(**kwargs):
        if kwargs["kind"] == "page":
            kwargs["lifetime"] = 3 * 86400
        return original(**kwargs)

    monkeypatch.setattr(fake, "issue", issue)
    credentials = run(fake, BrowserUI(APP))
    at = datetime.fromisoformat(credentials["expires_at"])
    assert timedelta(days=2, hours=23) < at - datetime.now(UTC) <= timedelta(days=3)
    warned = expiring_credentials(
        accounts={"shop": account_settings(platform="facebook", page=PAGE)},
        secrets=lambda name: credentials,
    )
    assert [(w.account, w.key) for w in warned] == [("shop", "access_token")]


def test_the_app_of_an_earlier_login_is_reused(fake):
    ui = BrowserUI({})
    run(fake, ui, existing={"app_id": APP_ID, "app_secret": APP_SECRET})
    assert ui.asked == []


def test_a_wrong_app_secret_is_one_clear_line(fake):
    with pytest.raises(LoginError, match="Error validating client secret") as raised:
        run(fake, BrowserUI({"Meta app ID": APP_ID, "Meta app secret": "wrong-secret"}))
    assert "wrong-secret" not in str(raised.value)


def test_a_page_without_a_role_says_what_to_do(fake):
    fake.roles = frozenset()
    with pytest.raises(LoginError, match="needs a role on the Page"):
        run(fake, BrowserUI(APP))


def test_permissions_left_unticked_are_named(fake, monkeypatch):
    original = fake.issue

    def issue(**kwargs):
        kwargs["scopes"] = [s for s in kwargs.get("scopes", ()) if s != "pages_manage_posts"]
        return original(**kwargs)

    monkeypatch.setattr(fake, "issue", issue)
    with pytest.raises(LoginError, match="did not grant pages_manage_posts"):
        run(fake, BrowserUI(APP))
