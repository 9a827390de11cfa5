"""`klapper login` for Instagram end to end against the fake Graph API and its dialog."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from klapper.adapters.base import MediaFile, Outgoing
from klapper.adapters.identity import is_checked
from klapper.adapters.instagram.login import SCOPES, login
from klapper.config.platforms import account_settings
from klapper.login import LoginError
from tests.adapters.test_contract import png
from tests.adapters.test_linkedin_login import BrowserUI
from tests.fakes.instagram import USER, USERNAME, FakeInstagram, make_adapter, serve_media
from tests.fakes.meta import APP_ID, APP_SECRET

APP = {"Meta app ID": APP_ID, "Meta app secret": APP_SECRET}


def run(fake: FakeInstagram, ui: BrowserUI, *, user: str = USER) -> dict[str, str]:
    return login(
        name="shop-ig",
        account=account_settings(
            platform="instagram", user=user, media_url="https://example.com/m"
        ),
        existing={},
        ui=ui,
        graph_base=fake.url,
        oauth_base=fake.url,
        port=0,
        timeout=5,
    )


def test_a_long_lived_token_is_kept_and_publishes(tmp_path):
    with FakeInstagram().serve() as fake, serve_media(tmp_path) as media_url:
        ui = BrowserUI(APP)
        credentials = run(fake, ui)
        dialog = parse_qs(ui.opened[0].split("?", 1)[1])
        assert dialog["scope"] == [",".join(SCOPES)]
        assert fake.calls("oauth/access_token")[1].params["grant_type"] == "fb_exchange_token"
        assert credentials["expires_at"] and credentials["app_secret"] == APP_SECRET
        assert (credentials["user_id"], credentials["username"]) == (USER, USERNAME)
        assert is_checked(credentials, credential="access_token")
        assert any(f"@{USERNAME}" in line and "lasts 60 days" in line for line in ui.shown)
        for line in ui.shown:
            assert credentials["access_token"] not in line and APP_SECRET not in line

        adapter = make_adapter(
            fake, tmp_path, media_url=media_url, token=credentials["access_token"]
        )
        image = MediaFile(path=png(tmp_path / "a.png"), alt="A", mime="image/png")
        published = adapter.publish(
            Outgoing(text="Nach dem Login", idempotency_key="k", media=(image,))
        )
        assert fake.media[published.remote_id]["caption"] == "Nach dem Login"


def test_an_account_the_token_does_not_reach_fails_the_login():
    with (
        FakeInstagram().serve() as fake,
        pytest.raises(LoginError, match=r"account 17841499999999999.*does not exist"),
    ):
        run(fake, BrowserUI(APP), user="17841499999999999")
