"""Adapters for the accounts in klapper.yaml, built on first use with their secrets; resuming."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path

from klapper.adapters import create_adapter
from klapper.adapters.base import Adapter
from klapper.config.model import Config
from klapper.config.platforms import platform as describe
from klapper.config.secrets import load_secrets, save_secrets, secret_values
from klapper.ledger import EventLog, Ledger, event_log_path
from klapper.ledger.store import LEDGER_FILE
from klapper.scheduler.credentials import needs_credentials, no_credentials_message


class MissingCredentials(Exception):
    """An account that must log in has no credentials at all (not: expired ones)."""


class AccountAdapters:
    """``adapters(name) -> Adapter``: one adapter per account, kept while the config stays.

    ``on_secrets`` sees every secret value loaded, so log redaction can hide them; ``state``
    is where adapters cache what they learn (a Mastodon instance's limits, read by `check`).
    """

    def __init__(
        self,
        *,
        config: Config,
        repo: Path,
        state: Path | None = None,
        on_secrets: Callable[[Iterable[str]], None] | None = None,
    ) -> None:
        self.config = config
        self.repo = repo
        self.state = state
        self.on_secrets = on_secrets
        self._built: dict[str, Adapter] = {}
        self._lock = threading.Lock()

    def __call__(self, name: str) -> Adapter:
        with self._lock:
            adapter = self._built.get(name)
            if adapter is None:
                adapter = self._build(name)
                self._built[name] = adapter
            return adapter

    def _build(self, name: str) -> Adapter:
        account = self.config.accounts.get(name)
        if account is None:
            raise KeyError(f"no account {name!r} in klapper.yaml")
        uses_secrets = describe(account.platform).uses_secrets
        secrets: Mapping[str, str] = load_secrets(name) if uses_secrets else {}
        if self.on_secrets is not None:
            self.on_secrets(secret_values(secrets))
        if needs_credentials(account.platform) and not secret_values(secrets):
            raise MissingCredentials(no_credentials_message(name))
        settings = account.model_dump(exclude_none=True, exclude={"platform", "paused"})
        if self.state is not None:
            settings["cache_dir"] = str(self.state)
        return create_adapter(
            name=name,
            platform=account.platform,
            settings=settings,
            secrets=secrets,
            repo=self.repo,
            timeout=self.config.publishing.timeout.total_seconds(),
            save_secrets=lambda values: _keep(save_secrets(name, values)),
        )

    def close(self) -> None:
        with self._lock:
            for adapter in self._built.values():
                adapter.close()
            self._built.clear()


def resume_after_login(
    *, state: Path, url: str | None = None, config: Config, account: str, now: datetime
) -> bool:
    """After a successful `klapper login`: un-pause the account if an existing ledger paused it."""
    if url is None and not (state / LEDGER_FILE).exists():
        return False  # never published from this state folder: nothing can be paused
    ledger = Ledger.open(state=state, url=url)
    events = EventLog(event_log_path(state=state, configured=config.paths.log))
    ledger.attach(events)
    try:
        return resume_account(ledger=ledger, events=events, account=account, now=now, by="login")
    finally:
        events.close()
        ledger.close()


def resume_account(
    *, ledger: Ledger, events: EventLog, account: str, now: datetime, by: str = "user"
) -> bool:
    """Un-pause an account (after `klapper login` or `klapper retry`); True if it was paused."""
    state = ledger.accounts().get(account)
    if state is None or state.paused_at is None:
        return False
    ledger.set_account(account, now=now, paused_at=None, pause_reason=None)
    events.emit("resumed", now=now, account=account, by=by)
    return True


def _keep(_saved_to: Path) -> None:
    """Adapters are told nothing about where refreshed secrets went."""
