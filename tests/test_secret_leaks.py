"""Secret-leak harness: run commands and failure paths with canary credentials, then search
everything a person or a log collector could see (output, logs, tracebacks, the state folder,
the repository) for them.

Extend it by adding to the tables below:

- ``ADAPTER_FAKES``: a fake-server module with the contract suite's ``adapter_case``; every
  failure kind is run against its adapter and the adapter's own secrets are the canaries.
- ``CLI_RUNS``: a command line; it runs once per ``SCENARIOS`` entry.
- ``ENV_CANARIES``: credentials given through the environment, for accounts in ``KLAPPER_YAML``.
"""

from __future__ import annotations

import importlib
import logging
import time
import traceback
import webbrowser
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from klapper.adapters.base import AdapterError, Outgoing
from klapper.cli.app import app
from klapper.config.secrets import save_secrets, secret_values
from tests.fakes.mastodon import FakeMastodon

FAIL_KINDS = ("server_error", "rate_limit", "timeout_after_accept", "drop", "auth")

#: fake-server modules exposing ``adapter_case(tmp_path)`` (see tests/adapters/test_contract.py)
ADAPTER_FAKES = (
    "tests.fakes.mastodon",
    "tests.fakes.x",
    "tests.fakes.linkedin",
    "tests.fakes.bluesky",
)

MASTODON_TOKEN = "canary-SECRET-masto-token-5f1e9a3c"
MASTODON_CLIENT_SECRET = "canary-SECRET-masto-client-8b2d"
LOGIN_CODE = "canary-SECRET-login-code-41d7"
#: environment credentials for accounts whose platform cannot be reached in tests: they load,
#: are shown by `klapper accounts`, and fail at connect time, never leaving 127.0.0.1.
ENV_CANARIES = {
    "KLAPPER_BSKY_APP_PASSWORD": "canary-SECRET-bsky-pass-c0ffee",
    "KLAPPER_BSKY_HANDLE": "shop.test",  # public: may be shown
    "KLAPPER_ANALYTICS_TOKEN": "canary-SECRET-matomo-token-7a1b",  # the website's analytics
}

KLAPPER_YAML = """\
timezone: Europe/Berlin
accounts:
  masto: {{platform: mastodon, instance: "{mastodon}"}}
  bsky: {{platform: bluesky, service: "http://127.0.0.1:9", handle: shop.test}}
  local: {{platform: outbox, path: outbox}}
defaults:
  to: [masto, bsky, local]
publishing: {{timeout: 1s, retries: 0}}
analytics: {{matomo: {{url: "http://127.0.0.1:9", site_id: 1}}, timeout: 1}}
engagement: {{schedule: [1s]}}
"""

POST = """\
text: |
  Canary post, due a minute ago.
at: {at}
"""

#: (id, arguments, stdin); the repository and state folder come from KLAPPER_REPO/KLAPPER_STATE
CLI_RUNS: tuple[tuple[str, tuple[str, ...], str | None], ...] = (
    ("accounts", ("accounts",), None),
    ("accounts-json", ("accounts", "--format", "json"), None),
    ("login", ("login", "masto"), f"{LOGIN_CODE}\n"),
    ("check", ("check",), None),
    ("plan", ("plan",), None),
    ("publish", ("publish", "--due"), None),
    ("publish-json-log", ("publish", "--due", "--log-format", "json"), None),
    ("publish-post", ("publish", "posts/canary.yaml", "--now"), None),
    ("retry", ("retry", "--account", "masto"), None),
    ("status", ("status",), None),
    ("status-json", ("status", "--format", "json"), None),
    ("inbox", ("inbox",), None),
    ("report", ("report",), None),
    ("report-json", ("report", "--format", "json"), None),
    ("refresh", ("refresh",), None),
    ("skip", ("skip", "posts/canary.yaml", "--account", "masto"), None),
)

#: what the fake Mastodon server does during a CLI run
SCENARIOS = ("accepted", "token_rejected", "server_error", "rate_limit", "drop")


def canary_forms(secrets: list[str]) -> list[str]:
    """Each secret as written and as it would appear URL-encoded."""
    return sorted({form for s in secrets for form in (s, quote(s, safe=""))})


def error_text(error: BaseException) -> str:
    """Everything an error shows: message, repr, and the full traceback with its causes."""
    return "\n".join([str(error), repr(error), *traceback.format_exception(error)])


def files_text(*folders: Path) -> Iterator[tuple[Path, str]]:
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                yield path, path.read_bytes().decode("utf-8", "replace")


def assert_no_canary(where: str, text: str, canaries: list[str]) -> None:
    leaked = [c for c in canaries if c in text]
    assert not leaked, f"secret {leaked[0][:12]}... appears in {where}"


# --- adapters: every failure kind -------------------------------------------------------------


def _fake_module(name: str):  # type: ignore[no-untyped-def]
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        pytest.skip(f"{name} is not available: {exc}")
    if not hasattr(module, "adapter_case"):
        pytest.skip(f"{name} has no adapter_case yet")
    return module


@pytest.mark.parametrize("fake", ADAPTER_FAKES)
def test_adapter_failures_never_show_credentials(
    fake: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    module = _fake_module(fake)
    shown: list[str] = []
    with module.adapter_case(tmp_path) as case:
        adapter = case.adapter
        canaries = canary_forms([s for s in secret_values(adapter.secrets) if len(s) >= 8])
        assert canaries, f"{fake}: the adapter has no secrets to look for"
        for kind in FAIL_KINDS:
            case.fail_next(kind)
            post = Outgoing(
                text=f"leak check {kind}", idempotency_key=f"leak|{kind}", due=datetime.now(UTC)
            )
            try:
                adapter.publish(post)
            except AdapterError as exc:
                shown.append(error_text(exc))
            for call in (lambda p=post: adapter.find(p), lambda: adapter.metrics(["1", "2"])):
                try:
                    call()
                except AdapterError as exc:
                    shown.append(error_text(exc))
        canaries = canary_forms([*canaries, *secret_values(adapter.secrets)])  # refreshed too
    assert len(shown) >= len(FAIL_KINDS) - 1, "the failures did not happen"
    for text in shown:
        assert_no_canary(f"an error of {fake}", text, canaries)
    assert_no_canary(f"the log of {fake}", caplog.text, canaries)
    for path, text in files_text(tmp_path):
        assert_no_canary(str(path), text, canaries)


# --- the command line -------------------------------------------------------------------------


@dataclass
class World:
    repo: Path
    state: Path
    secrets: Path
    server: FakeMastodon
    canaries: list[str]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with FakeMastodon(token=MASTODON_TOKEN, slow_seconds=2.0) as server:
        repo, state = tmp_path / "repo", tmp_path / "state"
        (repo / "posts").mkdir(parents=True)
        state.mkdir()
        (repo / "klapper.yaml").write_text(KLAPPER_YAML.format(mastodon=server.url))
        due = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0)
        (repo / "posts" / "canary.yaml").write_text(POST.format(at=due.isoformat()))
        secrets = tmp_path / "config" / "secrets.yaml"
        save_secrets(
            "masto",
            {
                "access_token": MASTODON_TOKEN,
                "client_id": "public-client-id",
                "client_secret": MASTODON_CLIENT_SECRET,
            },
            path=secrets,
            environ={},
        )
        for name, value in {
            "KLAPPER_SECRETS": str(secrets),
            "KLAPPER_REPO": str(repo),
            "KLAPPER_STATE": str(state),
            **ENV_CANARIES,
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(webbrowser, "open", lambda *a, **k: False)  # no browser in tests
        hidden = [v for k, v in ENV_CANARIES.items() if not k.endswith("_HANDLE")]
        yield World(
            repo,
            state,
            secrets,
            server,
            canary_forms([MASTODON_TOKEN, MASTODON_CLIENT_SECRET, LOGIN_CODE, *hidden]),
        )


def _commands() -> set[str]:
    return set(get_command(app).commands)  # type: ignore[attr-defined]


def _arrange(world: World, scenario: str) -> None:
    state = world.server.state
    if scenario == "token_rejected":
        state.token = "another-token-entirely"
    elif scenario != "accepted":
        for path in (
            "/api/v1/statuses",
            "/api/v1/accounts/verify_credentials",
            "/api/v1/notifications",
        ):
            method = "POST" if path == "/api/v1/statuses" else "GET"
            state.fail_next(scenario, method=method, path=path)


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize(("run_id", "args", "stdin"), CLI_RUNS, ids=[r[0] for r in CLI_RUNS])
def test_commands_never_show_credentials(
    world: World,
    caplog: pytest.LogCaptureFixture,
    scenario: str,
    run_id: str,
    args: tuple[str, ...],
    stdin: str | None,
) -> None:
    assert args[0] in _commands(), f"`klapper {args[0]}` is not a command"
    caplog.set_level(logging.DEBUG)
    _arrange(world, scenario)
    result = CliRunner().invoke(app, list(args), input=stdin)
    assert result.exit_code is not None
    assert_no_canary(f"the output of `klapper {' '.join(args)}`", result.output, world.canaries)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        assert_no_canary("an uncaught exception", error_text(result.exception), world.canaries)
    assert_no_canary("the log", caplog.text, world.canaries)
    for path, text in files_text(world.state, world.repo):
        assert_no_canary(str(path), text, world.canaries)


def test_the_harness_finds_a_planted_leak(world: World) -> None:
    """Guards the guard: a canary written where the harness looks is reported."""
    (world.state / "events.jsonl").write_text(f'{{"error": "token {MASTODON_TOKEN}"}}\n')
    with pytest.raises(AssertionError, match="appears in"):
        for path, text in files_text(world.state):
            assert_no_canary(str(path), text, world.canaries)


def test_the_analytics_token_is_never_shown(world: World, caplog: pytest.LogCaptureFixture) -> None:
    """A visits round that fails (nothing listens on the analytics' port) shows its one line
    and never the token, in the output, the log or the state folder."""
    caplog.set_level(logging.DEBUG)
    CliRunner().invoke(app, ["publish", "--due"])  # masto and local; bsky cannot be reached
    time.sleep(1.1)  # the schedule's one stage (1s) comes due
    result = CliRunner().invoke(app, ["refresh"])
    assert result.exit_code == 1
    assert "matomo: matomo at 127.0.0.1:9 could not be reached" in result.output
    assert_no_canary("the output of `klapper refresh`", result.output, world.canaries)
    assert_no_canary("the log", caplog.text, world.canaries)
    for path, text in files_text(world.state, world.repo):
        assert_no_canary(str(path), text, world.canaries)
