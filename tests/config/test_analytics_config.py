"""klapper.yaml's `analytics:`: one tool, its faults at their line, and `klapper check`
warning at `analytics:` while no token is stored (the token itself is never in klapper.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from klapper.cli import app
from tests.queue.repo_helpers import make_repo

BASE = "timezone: Europe/Berlin\naccounts:\n  local: {platform: outbox, path: outbox}\n"


def _check(tmp_path: Path, analytics: str) -> tuple[int, str]:
    root = make_repo(tmp_path, {}, config=BASE + analytics)
    result = CliRunner().invoke(app, ["check", "--repo", str(root)])
    return result.exit_code, result.output


@pytest.fixture(autouse=True)
def no_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLAPPER_SECRETS", str(tmp_path / "no-secrets.yaml"))
    monkeypatch.delenv("KLAPPER_ANALYTICS_TOKEN", raising=False)


@pytest.mark.parametrize(
    ("analytics", "said"),
    [
        (
            "analytics:\n  matomo: {url: 'https://stats.shop.de/', site_id: 0}\n",
            "5:52  error  analytics › matomo › site_id: Input should be greater than or equal to 1",
        ),
        (
            "analytics:\n  plausibel: {site_id: shop.de}\n",
            "5:3  error  analytics: unknown key 'plausibel'; did you mean 'plausible'?",
        ),
        (
            "analytics:\n  matomo: {url: 'https://a.de', site_id: 1}\n"
            "  plausible: {site_id: shop.de}\n",
            "5:3  error  analytics: give one of matomo: {url, site_id} or plausible: "
            "{url, site_id}, not both",
        ),
        (
            "analytics:\n  plausible: {url: 'stats.shop.de', site_id: shop.de}\n",
            "5:20  error  analytics › plausible › url: 'stats.shop.de' is not a web address; "
            "write it whole, e.g. https://stats.shop.de/",
        ),
    ],
)
def test_faults_are_errors_at_their_line(tmp_path: Path, analytics: str, said: str) -> None:
    code, output = _check(tmp_path, analytics)
    assert code == 1 and said in output


def test_check_warns_while_no_token_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    analytics = "analytics:\n  plausible: {site_id: shop.de}\n"
    code, output = _check(tmp_path / "a", analytics)
    assert code == 0
    assert (
        "4:1  warning  analytics: no token; store it as the secret analytics › token "
        "(KLAPPER_ANALYTICS_TOKEN, docs/analytics.md); visits and goals are not read until then"
    ) in output
    monkeypatch.setenv("KLAPPER_ANALYTICS_TOKEN", "a-plausible-key")
    code, output = _check(tmp_path / "b", analytics)
    assert code == 0 and "analytics" not in output
