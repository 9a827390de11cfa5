"""The command line's public surface: its commands, their help, and usage errors (exit 2)."""

from __future__ import annotations

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from klapper.cli import app

COMMANDS = {
    "check",
    "plan",
    "schema",
    "run",
    "publish",
    "status",
    "retry",
    "skip",
    "login",
    "accounts",
    "refresh",
    "report",
    "inbox",
    "ledger",
    "import",
    "preview",
}
runner = CliRunner()


def test_the_commands_are_the_documented_ones() -> None:
    assert set(get_command(app).commands) == COMMANDS  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_teaches_with_examples(command: str) -> None:
    result = runner.invoke(app, [command, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    assert "Examples" in result.output and f"klapper {command}" in result.output


@pytest.mark.parametrize(
    "args",
    [["check", "--format", "yaml"], ["plan", "--days", "many"], ["publish", "--nope"], ["nosuch"]],
)
def test_bad_usage_exits_2(args: list[str]) -> None:
    assert runner.invoke(app, args).exit_code == 2


def test_version_is_the_installed_one() -> None:
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"klapper {version('klapper')}\n"


def test_top_level_help_lists_commands_and_examples() -> None:
    result = runner.invoke(app, ["--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    assert "Examples" in result.output and "--version" in result.output
    for line in (
        "klapper check",
        "klapper plan",
        "klapper publish --due",
        "klapper run",
        "klapper refresh --now",
    ):
        assert line in result.output
    assert all(command in result.output for command in COMMANDS)
