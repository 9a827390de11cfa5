"""Whose credentials these are: the identity kept beside them, and the check before they are used.

A login records, next to the credentials, whom they belong to (Bluesky: ``service``, ``did``,
``handle``; Mastodon: ``instance``, ``account_id``, ``acct``; X: ``user_id``, ``username``;
LinkedIn: ``user_id``; Facebook: ``page_id``, ``page_name``; Instagram: ``user_id``,
``username``) and ``identity_checked``, a fingerprint of the credential that identity was
read with. An identity is only believed of that very credential: a token from the environment or
a hand-edited file is unchecked, and so is every credential stored before klapper kept
identities. An adapter asks the platform once who an unchecked credential belongs to and records
the answer; when that is not who klapper.yaml names, nothing is sent and the account pauses with
a message naming both.
"""

from __future__ import annotations

from collections.abc import Mapping

from klapper.adapters.base import AuthExpiredError
from klapper.config.secrets import fingerprint

#: the key holding the fingerprint of the credential whose identity is stored
CHECKED_KEY = "identity_checked"


class IdentityMismatchError(AuthExpiredError):
    """The stored credentials belong to another identity than klapper.yaml names."""


def is_checked(secrets: Mapping[str, str], *, credential: str) -> bool:
    """True when the stored identity was read with the credential ``secrets[credential]``."""
    value = secrets.get(credential)
    return bool(value) and secrets.get(CHECKED_KEY) == fingerprint(str(value))


def checked(secrets: Mapping[str, str], *, credential: str, **identity: str) -> dict[str, str]:
    """The entries that record ``identity`` as that of ``secrets[credential]``."""
    return {**identity, CHECKED_KEY: fingerprint(str(secrets[credential]))}


def same_name(left: str | None, right: str | None) -> bool:
    """Handles and usernames compare without case and without a leading ``@``."""
    return bool(left and right) and (
        str(left).lstrip("@").casefold() == str(right).lstrip("@").casefold()
    )


def mismatch_error(
    *, account: str, platform: str, stored: str, named: str
) -> IdentityMismatchError:
    """The error that pauses ``account``: whose the credentials are, whom klapper.yaml names."""
    return IdentityMismatchError(
        f"the {platform} credentials stored for account {account!r} belong to {stored}, but"
        f" klapper.yaml names {named}; nothing was sent with them. Run `klapper login {account}`"
        f" to log in as {named} (if another repository on this machine also has an account"
        f" {account!r}, give each repository its own KLAPPER_SECRETS file)"
    )


def carried(
    secrets: Mapping[str, str], changed: Mapping[str, str], *, credential: str
) -> dict[str, str]:
    """``changed`` (a refreshed token) still marked checked when the token it replaces was:
    a refresh continues the same grant, so it belongs to the same identity."""
    out = dict(changed)
    if credential in changed and is_checked(secrets, credential=credential):
        out[CHECKED_KEY] = fingerprint(str(changed[credential]))
    return out


def describe(secrets: Mapping[str, str]) -> str:
    """Whose ``secrets`` are, for `klapper accounts` (public identifiers only)."""
    name = secrets.get("handle") or secrets.get("acct") or secrets.get("username")
    number = secrets.get("did") or (
        f"user id {secrets['user_id']}"
        if secrets.get("user_id")
        else f"account {secrets['account_id']}"
        if secrets.get("account_id")
        else f"Page {secrets['page_id']}"
        if secrets.get("page_id")
        else ""
    )
    where = secrets.get("instance") or secrets.get("service")
    parts = [
        f"@{name.lstrip('@')}" if name else secrets.get("page_name") or "",
        f"({number})" if number else "",
        f"on {where}" if where else "",
    ]
    text = " ".join(part for part in parts if part)
    if (
        text
        and secrets.get("access_token")
        and secrets.get(CHECKED_KEY)
        and not is_checked(secrets, credential="access_token")
    ):
        text += " (recorded for another token: checked again on next use)"
    return text or "not recorded yet (checked on first use)"
