"""`klapper login` for a Bluesky account, against the real local PDS."""

from __future__ import annotations

import pytest

from klapper.adapters.base import Outgoing
from klapper.config.platforms import account_settings
from klapper.config.secrets import secret_values
from klapper.login import LoginError, run_login
from tests.fakes.bluesky import make_adapter, shared_pds

pytestmark = pytest.mark.pds


class ScriptedUI:
    """Answers prompts in order and records everything shown."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.prompts: list[tuple[str, bool]] = []
        self.shown: list[str] = []

    def prompt(self, text: str, *, secret: bool = False) -> str:
        self.prompts.append((text, secret))
        return self.answers.pop(0)

    def show(self, text: str) -> None:
        self.shown.append(text)

    def open_url(self, url: str) -> bool:
        return False


@pytest.fixture(scope="module")
def pds():
    return shared_pds()


def test_login_verifies_the_app_password_and_returns_a_working_session(pds):
    account = pds.create_account()
    config = account_settings(platform="bluesky", service=pds.url, handle=account.handle)
    ui = ScriptedUI(account.app_password)
    secrets = run_login(name="shop", account=config, existing={}, ui=ui)
    assert ui.prompts == [("App password", True)]  # the handle comes from klapper.yaml
    assert set(secrets) == {"app_password", "access_jwt", "refresh_jwt", "did", "handle", "service"}
    assert (secrets["did"], secrets["handle"], secrets["service"]) == (
        account.did,
        account.handle,
        pds.url,
    )  # whose the session is
    assert secrets["app_password"] == account.app_password
    assert any(f"Logged in as @{account.handle}" in line for line in ui.shown)
    assert not any(value in line for value in secret_values(secrets) for line in ui.shown)
    # The stored session publishes without logging in again.
    adapter = make_adapter(service=pds.url, account=account, saved={}, timeout=10, secrets=secrets)
    published = adapter.publish(Outgoing(text="logged in", idempotency_key="login#0"))
    assert published.remote_id.startswith(f"at://{account.did}/")


def test_login_asks_for_the_handle_when_klapper_yaml_has_none_and_keeps_it(pds):
    account = pds.create_account()
    ui = ScriptedUI(f"@{account.handle}", account.app_password)
    secrets = run_login(
        name="shop",
        account=account_settings(platform="bluesky", service=pds.url),
        existing={},
        ui=ui,
    )
    assert [secret for _, secret in ui.prompts] == [False, True]
    assert secrets["handle"] == account.handle
    assert any(f"handle: {account.handle}" in line for line in ui.shown)


def test_login_with_a_wrong_password_says_what_to_do_without_echoing_it(pds):
    account = pds.create_account()
    config = account_settings(platform="bluesky", service=pds.url, handle=account.handle)
    with pytest.raises(LoginError) as refused:
        run_login(name="shop", account=config, existing={}, ui=ScriptedUI("abcd-efgh-ijkl-mnop"))
    message = str(refused.value)
    assert "Invalid identifier or password" in message and "create a new app password" in message
    assert "abcd-efgh-ijkl-mnop" not in message


def test_login_to_an_unreachable_service_names_the_service():
    config = account_settings(platform="bluesky", service="http://127.0.0.1:9", handle="a.test")
    with pytest.raises(LoginError, match=r"http://127.0.0.1:9 .*connection .* failed.*service URL"):
        run_login(name="shop", account=config, existing={}, ui=ScriptedUI("abcd-efgh-ijkl-mnop"))


def test_an_empty_app_password_is_refused():
    config = account_settings(platform="bluesky", service="http://127.0.0.1:9", handle="a.test")
    with pytest.raises(LoginError, match="no app password"):
        run_login(name="shop", account=config, existing={}, ui=ScriptedUI(""))
