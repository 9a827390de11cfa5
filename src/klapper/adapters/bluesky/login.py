"""`klapper login` for Bluesky: handle + app password, checked by creating a session.

Create the app password in Bluesky under Settings > Privacy and security > App passwords (never
give klapper the account's main password). The login calls com.atproto.server.createSession on
the account's ``service`` (default https://bsky.social) and stores ``app_password`` and the
session tokens ``access_jwt``/``refresh_jwt``, with whose they are: ``did``, ``handle``, ``service``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from klapper.adapters.base import AuthExpiredError
from klapper.adapters.bluesky import BlueskySettings
from klapper.adapters.bluesky.session import (
    CALL_ERRORS,
    DEFAULT_SERVICE,
    Identity,
    create_session,
    open_client,
    translate,
)
from klapper.login import LoginError, LoginUI

TIMEOUT = 30.0
APP_PASSWORD = re.compile(r"^[a-z2-7]{4}(-[a-z2-7]{4}){3}$")  # how Bluesky formats them


def login(
    *, name: str, account: BlueskySettings, existing: Mapping[str, str], ui: LoginUI
) -> dict[str, str]:
    """Ask for the handle (unless klapper.yaml has it) and an app password; verify; return both."""
    service = account.service or DEFAULT_SERVICE
    handle = (account.handle or "").lstrip("@")
    if handle:
        ui.show(f"Logging in to {service} as @{handle} for account {name!r}.")
    else:
        handle = ui.prompt("Bluesky handle (e.g. yourshop.bsky.social)").strip().lstrip("@")
        if not handle:
            raise LoginError("no handle was given; run the login again")
    if existing.get("app_password"):
        ui.show(f"{name} has an app password already; a new login replaces it.")
    ui.show("Create an app password in Bluesky: Settings > Privacy and security > App passwords.")
    password = ui.prompt("App password", secret=True)
    if not password:
        raise LoginError("no app password was given; run the login again")
    if not APP_PASSWORD.match(password):
        ui.show(
            "That does not look like an app password (xxxx-xxxx-xxxx-xxxx); an app password "
            "can be revoked on its own, the main password cannot."
        )
    client = open_client(service=service, timeout=TIMEOUT)
    try:
        tokens = create_session(client, identifier=handle, password=password)
    except CALL_ERRORS as exc:
        error = translate(exc, action=f"log in to {service} as @{handle}", timeout=TIMEOUT)
        hint = (
            "check the handle and create a new app password"
            if isinstance(error, AuthExpiredError)
            else "check the service URL and try again"
        )
        raise LoginError(f"{error}; {hint}") from None
    finally:
        client.request.close()
    ui.show(f"Logged in as @{tokens.handle} ({tokens.did}).")
    if not account.handle:
        ui.show(f"Tip: add `handle: {tokens.handle}` to account {name!r} in klapper.yaml.")
    # Whose the session is (the adapter also logs in again with the handle when klapper.yaml
    # names none), so it is never used for another account or sent to another service.
    return {
        "app_password": password,
        "access_jwt": tokens.access_jwt,
        "refresh_jwt": tokens.refresh_jwt,
        **Identity(tokens.did, tokens.handle, service.rstrip("/")).entries(),
    }
