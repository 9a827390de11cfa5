"""`klapper login ACCOUNT` and `klapper accounts`: obtain credentials, and show which exist."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from klapper.adapters.identity import describe as describe_identity
from klapper.cli.app import (
    EXIT_FAILED,
    EXIT_USAGE,
    FormatOption,
    LedgerOption,
    OutputFormat,
    RepoOption,
    StateOption,
    app,
    examples,
)
from klapper.config.model import Config
from klapper.config.platforms import AccountSettings
from klapper.config.platforms import platform as describe
from klapper.config.secrets import (
    SecretsError,
    env_name,
    load_secrets,
    save_secrets,
    secret_origins,
    secrets_path,
)
from klapper.ledger import state_dir
from klapper.login import ConsoleUI, LoginError, run_login
from klapper.scheduler.accounts import resume_after_login

AccountArgument = Annotated[str, typer.Argument(help="The account's name in klapper.yaml.")]


def _fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _config(repo: Path) -> Config:
    from klapper.config.load import ConfigError, load_config

    try:
        return load_config(repo)
    except ConfigError as exc:
        for issue in exc.issues:
            typer.echo(
                f"{repo / 'klapper.yaml'}:{issue.line}:{issue.column}: {issue.message}", err=True
            )
        raise typer.Exit(EXIT_FAILED) from None


def _needed_keys(platform: str) -> tuple[str, ...]:
    """The secret keys a platform's description declares."""
    return describe(platform).secret_keys


@app.command(
    "login",
    epilog=examples(
        "klapper login shop-mastodon",
        "klapper login shop-bsky --repo ~/posts",
    ),
)
def login_command(
    account: AccountArgument,
    repo: RepoOption = Path("."),
    state: StateOption = None,
    url: LedgerOption = None,
) -> None:
    """Log in to one account's platform and store its credentials (outside the repository).

    The credentials go to the secrets file (KLAPPER_SECRETS, default in your config folder),
    created readable by you only. Nothing secret is printed. If klapper had paused the account
    because its credential expired, the account is resumed.
    """
    config = _config(repo)
    settings = config.accounts.get(account)
    if settings is None:
        raise _fail(
            f"klapper.yaml has no account {account!r}; accounts: "
            f"{', '.join(config.accounts) or 'none'}",
            EXIT_USAGE,
        )
    try:
        existing = load_secrets(account)
        credentials = run_login(name=account, account=settings, existing=existing, ui=ConsoleUI())
        path = save_secrets(account, credentials)
    except (LoginError, SecretsError) as exc:
        raise _fail(str(exc)) from None
    except (KeyboardInterrupt, typer.Abort):
        raise _fail("login cancelled; nothing was stored") from None
    typer.echo(f"Stored {', '.join(sorted(credentials))} for {account} in {path}")
    if resume_after_login(
        state=state_dir(state), url=url, config=config, account=account, now=datetime.now(UTC)
    ):
        typer.echo(f"{account} was paused; it is resumed and its deliveries go out again.")


@app.command("accounts", epilog=examples("klapper accounts", "klapper accounts --format json"))
def accounts_command(repo: RepoOption = Path("."), fmt: FormatOption = OutputFormat.text) -> None:
    """List the accounts in klapper.yaml, which credentials each has (never their values) and
    whose they are (the identity recorded at login or on first use).

    Exits 1 when an account lacks a credential its platform needs.
    """
    config = _config(repo)
    rows = [_describe(name, account) for name, account in config.accounts.items()]
    if fmt is OutputFormat.json:
        typer.echo(json.dumps({"secrets_file": str(secrets_path()), "accounts": rows}, indent=2))
    else:
        typer.echo(f"secrets file: {secrets_path()}")
        for row in rows:
            typer.echo(_line(row))
    if any(not row["ok"] for row in rows):
        raise typer.Exit(EXIT_FAILED)


def _describe(name: str, account: AccountSettings) -> dict[str, Any]:
    try:
        origins = secret_origins(name)
        identity = describe_identity(load_secrets(name)) if origins else None
        error = None
    except SecretsError as exc:
        origins, identity, error = {}, None, str(exc)
    # Some platforms take one of several sets of keys (X: OAuth 2.0 or 1.0a); any of them counts.
    expected = list(_needed_keys(account.platform))
    found = not expected or any(key in origins for key in expected)
    return {
        "account": name,
        "platform": account.platform,
        "paused": account.paused,
        "credentials": dict(sorted(origins.items())),
        "identity": identity,
        "expected": expected,
        "ok": found and error is None,
        "error": error,
    }


def _line(row: dict[str, Any]) -> str:
    head = f"{row['account']:<16} {row['platform']:<9}"
    if row["error"]:
        return f"{head} cannot read credentials: {row['error']}"
    have = ", ".join(f"{key} ({origin})" for key, origin in row["credentials"].items())
    text = f"{head} {have or ('no credentials' if row['expected'] else 'needs no credentials')}"
    if not row["ok"]:
        example = env_name(row["account"], row["expected"][0])
        text += f": run `klapper login {row['account']}` or set {example} and the like"
    text += "  [paused]" if row["paused"] else ""
    if row["identity"]:
        text += f"\n{'':<27}identity: {row['identity']}"
    return text
