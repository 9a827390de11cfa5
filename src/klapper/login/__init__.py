"""`klapper login`: one visible table from platform to its login flow, and the contract they share.

Every flow is a function ``login(*, name, account, existing, ui) -> dict[str, str]``
(see ``LoginFlow``): it talks to the user only through ``ui`` (so tests can drive it), starts
from the credentials the account ``existing``-ly has (to reuse a registered app or a handle), and
returns the account's complete new credentials, which the caller saves with
``config.secrets.save_secrets``. A flow never prints or logs a secret.
"""

from __future__ import annotations

import webbrowser
from collections.abc import Callable, Mapping
from typing import Protocol

from klapper.config.platforms import AccountSettings, registry
from klapper.config.platforms import platform as describe


class LoginError(Exception):
    """A login could not finish; the message says why and what to try."""


class LoginUI(Protocol):
    """How a login flow talks to the person logging in."""

    def prompt(self, text: str, *, secret: bool = False) -> str:
        """Ask for one value; ``secret`` hides the typing (passwords, codes)."""

    def show(self, text: str) -> None:
        """Tell the person something (never a secret)."""

    def open_url(self, url: str) -> bool:
        """Offer ``url`` to open in a browser; True when a browser was opened."""


class LoginFlow(Protocol):
    """The signature every ``klapper.login.<platform>:login`` implements."""

    def __call__(
        self, *, name: str, account: AccountSettings, existing: Mapping[str, str], ui: LoginUI
    ) -> dict[str, str]: ...


class ConsoleUI:
    """The terminal: typer prompts (hidden for secrets), messages to stderr, the web browser."""

    def prompt(self, text: str, *, secret: bool = False) -> str:
        import typer

        # An empty answer is an answer (an optional secret, a default choice): without
        # default="" click would ask again and again.
        return str(typer.prompt(text, default="", show_default=False, hide_input=secret)).strip()

    def show(self, text: str) -> None:
        import typer

        typer.echo(text, err=True)

    def open_url(self, url: str) -> bool:
        try:
            return webbrowser.open(url)
        except webbrowser.Error:
            return False


def show_consent(ui: LoginUI, url: str, *, asking: str) -> None:
    """Show the platform's consent page and open it; without a browser, say what to do."""
    ui.show(f"{asking}:\n  {url}")
    if not ui.open_url(url):
        ui.show("Open the address above in a browser on this machine.")


def login_flow(platform: str) -> Callable[..., dict[str, str]]:
    """The login function for ``platform``; LoginError when the platform needs no login."""
    flow = describe(platform).login_flow()
    if flow is None:
        able = [name for name, described in registry().items() if described.login]
        raise LoginError(
            f"platform {platform!r} needs no login; accounts that do: {', '.join(able)}"
        )
    return flow


def run_login(
    *, name: str, account: AccountSettings, existing: Mapping[str, str], ui: LoginUI
) -> dict[str, str]:
    """Run the flow for ``account``'s platform and return the credentials to save."""
    flow = login_flow(account.platform)
    return flow(name=name, account=account, existing=existing, ui=ui)
