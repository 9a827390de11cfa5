"""`klapper login` for Mastodon: register klapper on the instance, authorize, keep the token.

The flow: POST /api/v1/apps registers klapper (scopes read and write, redirect URI
``urn:ietf:wg:oauth:2.0:oob``, so it works over SSH on a server without a browser); the person
opens the authorization address, logs in, allows access and pastes the code the instance shows;
the code is exchanged for an access token, which is checked with verify_credentials. Stored:
``client_id``, ``client_secret``, ``access_token``, and whose it is: ``instance``, ``account_id``,
``acct``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

import requests
from mastodon.errors import MastodonError

from klapper.adapters.identity import checked
from klapper.adapters.mastodon import MastodonSettings
from klapper.adapters.mastodon.adapter import instance_url
from klapper.adapters.mastodon.http import RefusedError, make_client, read_instance
from klapper.config.secrets import redact
from klapper.login import LoginError, LoginUI

OOB = "urn:ietf:wg:oauth:2.0:oob"
SCOPES = ["read", "write"]  # write: statuses and media; read: own statuses, notifications
APP_NAME = "klapper"
TIMEOUT = 30.0


def login(
    *, name: str, account: MastodonSettings, existing: Mapping[str, str], ui: LoginUI
) -> dict[str, str]:
    """Run the authorization-code flow for account ``name``; returns its new credentials."""
    base = instance_url(instance=account.instance, handle=account.handle)
    if base is None:
        raise LoginError(
            f"account {name!r} has no instance; add `instance: https://your.server` to it in"
            " klapper.yaml, then run the login again"
        )
    if existing.get("access_token"):
        ui.show(f"{name} has an access token already; a new login replaces it.")
    loopback = _is_loopback(base)  # plain http only for a server on this machine (tests)
    client_id, client_secret = _register(base)
    hidden = [client_secret]
    api = make_client(
        base=base,
        version=_version(base),
        timeout=TIMEOUT,
        client_id=client_id,
        client_secret=client_secret,
    )
    try:
        url = api.auth_request_url(
            redirect_uris=OOB, scopes=SCOPES, force_login=True, allow_http=loopback
        )
        ui.show(
            f"Open this address, log in as the account for {name!r} and allow klapper:\n  {url}"
        )
        ui.open_url(url)
        code = ui.prompt("Paste the authorization code the instance shows", secret=True)
        if not code:
            raise LoginError("no authorization code was given; run the login again")
        hidden.append(code)
        token = api.log_in(code=code, redirect_uri=OOB, scopes=SCOPES, allow_http=loopback)
        hidden.append(token)
        me = api.account_verify_credentials()
    except MastodonError as exc:
        raise LoginError(
            f"{_host(base)} did not complete the login: {redact(_reason(exc), hidden)}."
            " Run the login again and paste the newest code"
        ) from None
    finally:
        api.session.close()
    ui.show(f"Logged in as @{me['acct']} on {_host(base)}.")
    credentials = {"client_id": client_id, "client_secret": client_secret, "access_token": token}
    # Whose the token is, so it is never used for another account (adapters.identity).
    return {
        **credentials,
        **checked(
            credentials,
            credential="access_token",
            instance=base,
            account_id=str(me["id"]),
            acct=str(me["acct"]),
        ),
    }


def _register(base: str) -> tuple[str, str]:
    """Register klapper as an application on the instance (a fresh one for every login)."""
    try:
        answer = requests.post(
            f"{base}/api/v1/apps",
            timeout=TIMEOUT,
            data={"client_name": APP_NAME, "redirect_uris": OOB, "scopes": " ".join(SCOPES)},
        )
    except requests.RequestException as exc:
        raise LoginError(
            f"cannot reach {_host(base)} ({type(exc).__name__}); check the instance URL in"
            " klapper.yaml and the network"
        ) from None
    try:
        body = answer.json()
    except ValueError:
        body = {}
    if not answer.ok or "client_id" not in body or "client_secret" not in body:
        said = body.get("error") if isinstance(body, dict) else None
        raise LoginError(
            f"{_host(base)} refused to register klapper (HTTP {answer.status_code}"
            f"{': ' + str(said) if said else ''}); is {base} a Mastodon-compatible server?"
        )
    return str(body["client_id"]), str(body["client_secret"])


def _version(base: str) -> str | None:
    """The instance's version (klapper's own read: Mastodon.py's recurses on some servers)."""
    with requests.Session() as session:
        try:
            return (
                str(
                    read_instance(session=session, base=base, token=None, timeout=TIMEOUT).get(
                        "version"
                    )
                    or ""
                )
                or None
            )
        except (requests.RequestException, RefusedError):
            return None  # the login itself will say what is wrong


def _reason(exc: MastodonError) -> str:
    # Mastodon.py wraps token errors as "Invalid access token or redirect_uris: (...)".
    parts = [str(a) for a in exc.args if isinstance(a, str | int)]
    return " ".join(parts) or type(exc).__name__


def _host(base: str) -> str:
    return urlsplit(base).netloc


def _is_loopback(base: str) -> bool:
    host = urlsplit(base).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
