"""Accounts in klapper.yaml that have no credentials: found by `check`, `plan` and `status`.

Without this, an account nobody logged in to stays invisible until its first post is due and
the publish pauses it. Whether a platform needs credentials is data (its description's ``secret_keys``),
so no adapter module (and no client library) is imported to find out.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from klapper.config.analytics import SECRETS_ENTRY, TOKEN_KEY
from klapper.config.load import CONFIG_FILE
from klapper.config.model import Config
from klapper.config.platforms import registry
from klapper.config.secrets import SecretsError, env_name, load_secrets, secret_values
from klapper.config.yamlsrc import YamlError, locate, read_documents
from klapper.queue.model import Problem, Source


def needs_credentials(platform: str) -> bool:
    """Whether an account of ``platform`` must log in (unknown platforms: not known, so no)."""
    described = registry().get(platform)
    return described is not None and described.needs_credentials


def no_credentials_message(account: str) -> str:
    """What to tell a user about ``account`` having no credentials at all."""
    return (
        f"account {account} has no credentials (no session, token or password is stored); "
        f"run `klapper login {account}`"
    )


def missing_credentials(
    config: Config, *, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Account name -> why it cannot publish: no credentials, or the store cannot be read.

    Accounts paused in klapper.yaml are left out: nothing goes to them until they are resumed.
    """
    missing: dict[str, str] = {}
    for name, account in config.accounts.items():
        if account.paused or not needs_credentials(account.platform):
            continue
        try:
            found = secret_values(load_secrets(name, environ=environ))
        except SecretsError as exc:
            missing[name] = f"the credentials of account {name} cannot be read: {exc}"
            continue
        if not found:
            missing[name] = no_credentials_message(name)
    return missing


def credential_problems(missing: Mapping[str, str], *, repo: Path) -> list[Problem]:
    """`klapper check` warnings, one per account, at the account's name in klapper.yaml."""
    try:
        documents = read_documents((repo / CONFIG_FILE).read_bytes()) if missing else []
    except (OSError, YamlError):
        documents = []
    problems = []
    for name, message in missing.items():
        line, column = (
            locate(documents[0].node, ("accounts", name), key=True) if documents else (1, 1)
        )
        problems.append(
            Problem(
                Source(CONFIG_FILE, line, column),
                "warning",
                f"{message}; its posts cannot go out until then",
                account=name,
            )
        )
    return problems


def analytics_problems(
    config: Config, *, repo: Path, environ: Mapping[str, str] | None = None
) -> list[Problem]:
    """`klapper check`: a warning at klapper.yaml's ``analytics:`` when it has no token."""
    if config.analytics is None:
        return []
    try:
        if load_secrets(SECRETS_ENTRY, environ=environ).get(TOKEN_KEY):
            return []
        message = (
            f"analytics: no token; store it as the secret {SECRETS_ENTRY} › {TOKEN_KEY} "
            f"({env_name(SECRETS_ENTRY, TOKEN_KEY)}, docs/analytics.md)"
        )
    except SecretsError as exc:
        message = f"analytics: the token cannot be read: {exc}"
    try:
        documents = read_documents((repo / CONFIG_FILE).read_bytes())
    except (OSError, YamlError):
        documents = []
    line, column = locate(documents[0].node, ("analytics",), key=True) if documents else (1, 1)
    return [
        Problem(
            Source(CONFIG_FILE, line, column),
            "warning",
            f"{message}; visits and goals are not read until then",
        )
    ]
