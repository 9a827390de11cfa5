"""`klapper login` for Mastodon end to end against the fake server: app, code, token, storage."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from typer.testing import CliRunner

from klapper.adapters.base import Outgoing
from klapper.adapters.mastodon.adapter import MastodonAdapter
from klapper.cli.app import app
from klapper.config.platforms import account_settings, registry
from klapper.config.secrets import load_secrets
from klapper.login import LoginError, login_flow, run_login
from tests.fakes.mastodon import FakeMastodon


class ScriptedUI:
    """Plays the person: opens the authorization page, reads the code, pastes it."""

    def __init__(self, *, tamper: bool = False) -> None:
        self.tamper = tamper
        self.shown: list[str] = []
        self.code = ""

    def show(self, text: str) -> None:
        self.shown.append(text)

    def open_url(self, url: str) -> bool:
        page = requests.get(url, timeout=5)
        page.raise_for_status()
        self.code = re.search(r'class="oauth-code" value="([^"]+)"', page.text)[1]
        return True

    def prompt(self, text: str, *, secret: bool = False) -> str:
        assert secret, "the code must be typed hidden"
        return self.code + ("-typo" if self.tamper else "")


@pytest.fixture
def server() -> Iterator[FakeMastodon]:
    with FakeMastodon() as fake:
        yield fake


def test_every_platform_with_credentials_names_its_login_flow() -> None:
    with_login = {name for name, described in registry().items() if described.login}
    assert with_login >= {"mastodon", "bluesky", "x", "linkedin"}
    assert login_flow("mastodon").__module__ == "klapper.adapters.mastodon.login"
    with pytest.raises(LoginError, match="needs no login"):
        login_flow("outbox")


def test_login_registers_authorizes_and_returns_a_working_token(
    server: FakeMastodon, tmp_path: Path
) -> None:
    ui = ScriptedUI()
    account = account_settings(platform="mastodon", instance=server.url)
    credentials = run_login(name="masto", account=account, existing={}, ui=ui)
    assert set(credentials) == {
        "client_id",
        "client_secret",
        "access_token",
        "instance",
        "account_id",
        "acct",
        "identity_checked",
    }  # and whose it is
    assert credentials["client_id"] in server.state.apps
    app_entry = server.state.apps[credentials["client_id"]]
    assert app_entry["redirect_uris"] == ["urn:ietf:wg:oauth:2.0:oob"]
    assert app_entry["scopes"] == ["read", "write"]
    assert any("Logged in as @shop" in line for line in ui.shown)
    assert not any(credentials["access_token"] in line for line in ui.shown)
    adapter = MastodonAdapter(
        name="masto", settings={"instance": server.url}, secrets=credentials, repo=tmp_path
    )
    assert adapter.publish(Outgoing(text="after login", idempotency_key="k")).remote_id


def test_a_wrong_code_fails_without_showing_secrets(server: FakeMastodon) -> None:
    ui = ScriptedUI(tamper=True)
    with pytest.raises(LoginError) as info:
        run_login(
            name="masto",
            account=account_settings(platform="mastodon", instance=server.url),
            existing={},
            ui=ui,
        )
    message = str(info.value)
    assert "login again" in message
    assert ui.code not in message
    assert not any(app["client_secret"] in message for app in server.state.apps.values())


def test_unreachable_instance_and_missing_instance(tmp_path: Path) -> None:
    with pytest.raises(LoginError, match="cannot reach 127.0.0.1:9"):
        run_login(
            name="m",
            account=account_settings(platform="mastodon", instance="http://127.0.0.1:9"),
            existing={},
            ui=ScriptedUI(),
        )
    with pytest.raises(LoginError, match="has no instance"):
        run_login(
            name="m", account=account_settings(platform="mastodon"), existing={}, ui=ScriptedUI()
        )


def test_cli_login_stores_credentials_privately(
    server: FakeMastodon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "klapper.yaml").write_text(
        f"accounts:\n  masto: {{platform: mastodon, instance: '{server.url}'}}\n"
        "  local: {platform: outbox, path: outbox}\n"
    )
    store = tmp_path / "config" / "secrets.yaml"
    monkeypatch.setenv("KLAPPER_SECRETS", str(store))
    monkeypatch.setattr("klapper.cli.accounts.ConsoleUI", ScriptedUI)
    result = CliRunner().invoke(app, ["login", "masto", "--repo", str(repo)])
    assert result.exit_code == 0, result.output
    assert f"in {store}" in result.output
    saved = load_secrets("masto", path=store, environ={})
    assert saved["access_token"] == server.state.token
    assert server.state.token not in result.output
    assert (store.stat().st_mode & 0o777) == 0o600

    listing = CliRunner().invoke(app, ["accounts", "--repo", str(repo)])
    assert listing.exit_code == 0, listing.output
    assert "access_token (secrets file)" in listing.output
    assert f"identity: @shop (account 1) on {server.url}" in listing.output  # whose it is
    assert server.state.token not in listing.output

    unknown = CliRunner().invoke(app, ["login", "nosuch", "--repo", str(repo)])
    assert unknown.exit_code == 2 and "no account 'nosuch'" in unknown.output


def test_cli_accounts_reports_missing_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "klapper.yaml").write_text(
        "accounts:\n  masto: {platform: mastodon, instance: 'https://example.social'}\n"
    )
    monkeypatch.setenv("KLAPPER_SECRETS", str(tmp_path / "none.yaml"))
    monkeypatch.delenv("KLAPPER_MASTO_ACCESS_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["accounts", "--repo", str(tmp_path), "--format", "json"])
    assert result.exit_code == 1
    assert '"ok": false' in result.output
    monkeypatch.setenv("KLAPPER_MASTO_ACCESS_TOKEN", "from-the-environment")
    result = CliRunner().invoke(app, ["accounts", "--repo", str(tmp_path)])
    assert result.exit_code == 0 and "access_token (environment)" in result.output
    assert "identity: not recorded yet (checked on first use)" in result.output
    assert "from-the-environment" not in result.output


def test_cli_login_resumes_an_account_paused_for_its_credential(
    server: FakeMastodon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from klapper.ledger import Ledger

    repo, state = tmp_path / "repo", tmp_path / "state"
    repo.mkdir()
    (repo / "klapper.yaml").write_text(
        f"accounts:\n  masto: {{platform: mastodon, instance: '{server.url}'}}\n"
    )
    ledger = Ledger.open(state=state)
    ledger.set_account(
        "masto",
        now=datetime.now(UTC),
        paused_at=datetime.now(UTC),
        pause_reason="the access token was revoked",
    )
    ledger.close()
    monkeypatch.setenv("KLAPPER_SECRETS", str(tmp_path / "secrets.yaml"))
    monkeypatch.setattr("klapper.cli.accounts.ConsoleUI", ScriptedUI)

    result = CliRunner().invoke(app, ["login", "masto", "--repo", str(repo), "--state", str(state)])

    assert result.exit_code == 0, result.output
    assert "masto was paused; it is resumed" in result.output
    ledger = Ledger.open(state=state)
    assert ledger.accounts()["masto"].paused_at is None
    ledger.close()
    events = (state / "events.jsonl").read_text()
    assert '"event": "resumed"' in events and server.state.token not in events


def test_login_on_a_server_that_404s_the_slashed_instance_route(tmp_path: Path) -> None:
    # Takahē: Mastodon.py's own version detection would call itself until the stack ran out.
    with FakeMastodon(flavor="takahe") as takahe:
        account = account_settings(platform="mastodon", instance=takahe.url)
        credentials = run_login(name="masto", account=account, existing={}, ui=ScriptedUI())
        assert credentials["access_token"] == takahe.state.token
        assert len(takahe.state.requests) <= 8  # not hundreds of version lookups
