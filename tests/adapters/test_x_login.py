"""`klapper login x` end to end against the fake X authorization server and API."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from typer.testing import CliRunner

from klapper.adapters.base import Outgoing
from klapper.adapters.x.adapter import XAdapter
from klapper.adapters.x.login import login
from klapper.config.platforms import account_settings
from klapper.config.secrets import fingerprint
from klapper.login import ConsoleUI, LoginError
from tests.fakes.x import ME_ID, ME_USERNAME, FakeX
from tests.fakes.x_oauth import AUTHORIZE_HOST


class BrowserUI:
    """Answers prompts from a list; "opens" a URL by fetching it like a browser would."""

    def __init__(self, fake: FakeX, answers: list[str]) -> None:
        self.fake, self.answers = fake, list(answers)
        self.prompts: list[tuple[str, bool]] = []
        self.shown: list[str] = []
        self.visited: list[str] = []

    def prompt(self, text: str, *, secret: bool = False) -> str:
        self.prompts.append((text, secret))
        return self.answers.pop(0)

    def show(self, text: str) -> None:
        self.shown.append(text)

    def open_url(self, url: str) -> bool:
        browser = requests.Session()
        browser.mount(AUTHORIZE_HOST, self.fake.transport())
        # X's consent page redirects to the listener on 127.0.0.1, which answers the browser.
        page = browser.get(url, timeout=5)
        self.visited.append(page.url)
        return True


@pytest.fixture
def fake() -> Iterator[FakeX]:
    with FakeX() as made:
        yield made


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _login(fake: FakeX, ui: BrowserUI, port: int, **kwargs: object) -> dict[str, str]:
    return login(
        name="shop_x",
        account=account_settings(platform="x"),
        ui=ui,
        port=port,
        transport=fake.transport(),
        timeout=5,
        **kwargs,
    )  # type: ignore[arg-type]


def test_oauth2_pkce_login_for_a_public_client(fake: FakeX, tmp_path: Path) -> None:
    port = _free_port()
    fake.oauth.register_client("native-app", redirect_uri=f"http://127.0.0.1:{port}/callback")
    ui = BrowserUI(fake, ["1", "native-app", ""])
    secrets = _login(fake, ui, port, existing={})
    assert set(secrets) == {
        "access_token",
        "refresh_token",
        "expires_at",
        "client_id",
        "username",
        "user_id",
        "identity_checked",
    }
    assert secrets["username"] == ME_USERNAME and secrets["user_id"] == ME_ID
    assert int(secrets["expires_at"]) >= time.time() + 7000
    assert ui.visited[0].startswith(f"http://127.0.0.1:{port}/callback?")
    assert [grant["grant_type"] for grant in fake.oauth.token_requests] == ["authorization_code"]
    # The stored credentials publish, and nothing secret was shown to the person.
    adapter = fake.connect(XAdapter(name="shop_x", settings={}, secrets=secrets, repo=tmp_path))
    published = adapter.publish(Outgoing(text="logged in", idempotency_key="k"))
    assert published.url == f"https://x.com/{ME_USERNAME}/status/{published.remote_id}"
    assert fake.count("me") == 1  # at login; the adapter used the stored username
    for text in ui.shown:
        assert secrets["access_token"] not in text and secrets["refresh_token"] not in text


def test_oauth2_login_for_a_confidential_client_reuses_the_stored_app(fake: FakeX) -> None:
    port = _free_port()
    fake.oauth.register_client(
        "web-app", redirect_uri=f"http://127.0.0.1:{port}/callback", secret="web-app-secret"
    )
    ui = BrowserUI(fake, [])
    secrets = _login(
        fake,
        ui,
        port,
        method="oauth2",
        existing={"client_id": "web-app", "client_secret": "web-app-secret"},
    )
    assert ui.prompts == []
    assert secrets["client_secret"] == "web-app-secret" and secrets["refresh_token"]


def test_refused_consent_is_a_clear_error(fake: FakeX) -> None:
    port = _free_port()
    fake.oauth.register_client("native-app", redirect_uri=f"http://127.0.0.1:{port}/callback")
    fake.oauth.deny_next = True
    with pytest.raises(LoginError, match="access_denied"):
        _login(fake, BrowserUI(fake, ["1", "native-app", ""]), port, existing={})


def test_wrong_client_secret_is_a_clear_error(fake: FakeX) -> None:
    port = _free_port()
    fake.oauth.register_client(
        "web-app", redirect_uri=f"http://127.0.0.1:{port}/callback", secret="right"
    )
    with pytest.raises(LoginError, match="unauthorized_client"):
        _login(fake, BrowserUI(fake, ["web-app", "wrong"]), port, method="oauth2", existing={})


def test_oauth1_keys_by_hand(fake: FakeX) -> None:
    keys = fake.oauth.set_oauth1()
    ui = BrowserUI(
        fake,
        [
            "2",
            keys["consumer_key"],
            keys["consumer_secret"],
            keys["access_token"],
            keys["access_token_secret"],
        ],
    )
    secrets = _login(fake, ui, _free_port(), existing={})
    assert secrets == {
        **keys,
        "username": ME_USERNAME,
        "user_id": ME_ID,
        "identity_checked": fingerprint(keys["access_token"]),
    }
    assert [hidden for _, hidden in ui.prompts] == [False, False, True, False, True]
    assert ui.visited == []


def test_oauth1_keys_that_x_refuses(fake: FakeX) -> None:
    keys = fake.oauth.set_oauth1()
    ui = BrowserUI(
        fake,
        [keys["consumer_key"], "not-the-secret", keys["access_token"], keys["access_token_secret"]],
    )
    with pytest.raises(LoginError, match="X did not accept the new credentials"):
        _login(fake, ui, _free_port(), method="oauth1", existing={})


def test_an_unknown_choice_is_refused(fake: FakeX) -> None:
    with pytest.raises(LoginError, match="answer 1 or 2"):
        _login(fake, BrowserUI(fake, ["3"]), _free_port(), existing={})


class ConsoleBrowserUI(ConsoleUI):
    """The real terminal prompts (fed from stdin), with the fake X's consent page as browser."""

    def __init__(self, fake: FakeX) -> None:
        self.browser = BrowserUI(fake, [])

    def open_url(self, url: str) -> bool:
        return self.browser.open_url(url)


def test_a_native_app_logs_in_at_the_terminal_with_an_empty_secret(fake: FakeX) -> None:
    port = _free_port()
    fake.oauth.register_client("native-app", redirect_uri=f"http://127.0.0.1:{port}/callback")
    # Enter for the default method, the client id, Enter for "no client secret".
    with CliRunner().isolation(input="\nnative-app\n\n"):
        secrets = _login(fake, ConsoleBrowserUI(fake), port, existing={})
    assert secrets["client_id"] == "native-app" and "client_secret" not in secrets
    assert secrets["username"] == ME_USERNAME
    assert [grant["grant_type"] for grant in fake.oauth.token_requests] == ["authorization_code"]
