"""`klapper login linkedin` end to end against the fake LinkedIn authorization server.

The test plays the browser: ``open_url`` fetches the authorize URL, whose 302 leads to klapper's
redirect listener on 127.0.0.1, exactly as a browser would follow it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest
import requests

from klapper.adapters.base import Outgoing
from klapper.adapters.linkedin.login import login
from klapper.config.expiry import expiring_credentials, parse_expiry
from klapper.config.platforms import account_settings
from klapper.login import LoginError
from tests.fakes.linkedin import (
    CLIENT_ID,
    CLIENT_SECRET,
    PAGE,
    PERSON,
    FakeLinkedIn,
    insecure_transport_allowed,
    make_adapter,
)


class BrowserUI:
    """Answers prompts from a table and 'opens' URLs by fetching them, redirects and all."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, bool]] = []
        self.shown: list[str] = []
        self.opened: list[str] = []

    def prompt(self, text: str, *, secret: bool = False) -> str:
        self.asked.append((text, secret))
        return self.answers[text]

    def show(self, text: str) -> None:
        self.shown.append(text)

    def open_url(self, url: str) -> bool:
        self.opened.append(url)
        requests.get(url, timeout=5)
        return True


APP = {"LinkedIn app Client ID": CLIENT_ID, "LinkedIn app Client Secret": CLIENT_SECRET}


@pytest.fixture
def fake():
    with insecure_transport_allowed(), FakeLinkedIn().serve() as server:
        yield server


def run(
    fake: FakeLinkedIn,
    ui: BrowserUI,
    *,
    author: str | None = PERSON,
    existing: dict[str, str] | None = None,
) -> dict[str, str]:
    return login(
        name="linkedin",
        account=account_settings(platform="linkedin", author=author),
        existing=existing or {},
        ui=ui,
        oauth_base=fake.url,
        api_base=fake.url,
        port=0,
        timeout=5,
    )


def test_a_person_logs_in_and_the_credentials_publish(fake, tmp_path):
    ui = BrowserUI(APP)
    credentials = run(fake, ui)

    assert ui.asked == [("LinkedIn app Client ID", False), ("LinkedIn app Client Secret", True)]
    authorize = parse_qs(ui.opened[0].split("?", 1)[1])
    assert authorize["scope"] == ["openid profile w_member_social"]
    assert authorize["redirect_uri"][0].startswith("http://127.0.0.1:")
    assert authorize["response_type"] == ["code"]
    assert credentials["author"] == PERSON
    assert credentials["access_token"] in fake.tokens
    assert credentials["refresh_token"] in fake.refresh
    assert (credentials["client_id"], credentials["client_secret"]) == (CLIENT_ID, CLIENT_SECRET)
    lifetime = parse_expiry(credentials["expires_at"]) - datetime.now(UTC)
    assert timedelta(days=59) < lifetime <= timedelta(days=60, seconds=1)
    assert parse_expiry(credentials["refresh_token_expires_at"]) > datetime.now(UTC)
    secrets = [credentials[k] for k in ("access_token", "refresh_token", "client_secret")]
    assert not any(s in line for s in secrets for line in ui.shown)

    adapter = make_adapter(fake, tmp_path, token=None, **credentials)
    assert adapter.publish(Outgoing(text="First post", idempotency_key="k")).remote_id


def test_a_page_asks_for_organization_scopes_and_keeps_the_stored_app(fake):
    ui = BrowserUI({})
    credentials = run(
        fake,
        ui,
        author=PAGE,
        existing={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": "stale"},
    )

    assert ui.asked == []
    authorize = parse_qs(ui.opened[0].split("?", 1)[1])
    assert authorize["scope"] == ["openid profile w_organization_social r_organization_social"]
    assert "author" not in credentials  # the page's admin who logged in is recorded:
    assert credentials["user_id"] == PERSON.rsplit(":", 1)[1]
    assert credentials["refresh_token"] != "stale"


def test_without_refresh_tokens_the_user_learns_about_the_warning(fake):
    fake.refresh_tokens_enabled = False
    ui = BrowserUI(APP)
    credentials = run(fake, ui, author=None)

    assert "refresh_token" not in credentials
    assert any("`klapper status` warns 7 days ahead" in line for line in ui.shown)
    assert any(f"author: {PERSON}" in line for line in ui.shown)

    # The stored expiry drives the warning: silent now, reported in the token's last week.
    accounts = {"linkedin": account_settings(platform="linkedin", author=PERSON)}
    now = datetime.now(UTC)
    assert expiring_credentials(accounts=accounts, secrets=lambda _: credentials, now=now) == []
    late = expiring_credentials(
        accounts=accounts, secrets=lambda _: credentials, now=now + timedelta(days=54)
    )
    assert [(f.account, f.key) for f in late] == [("linkedin", "access_token")]


def test_a_cancelled_consent_says_so(fake):
    fake.deny_login = True
    with pytest.raises(LoginError, match=r"refused.*user_cancelled_authorize"):
        run(fake, BrowserUI(APP))


def test_a_wrong_client_secret_is_reported_without_showing_it(fake):
    wrong = "not-the-secret-4711"
    with pytest.raises(LoginError, match="refused the authorization code") as caught:
        run(fake, BrowserUI({**APP, "LinkedIn app Client Secret": wrong}))
    assert wrong not in str(caught.value)


def test_missing_app_credentials_are_asked_for_again(fake):
    with pytest.raises(LoginError, match="client id and the client secret"):
        run(fake, BrowserUI({**APP, "LinkedIn app Client Secret": " "}))
