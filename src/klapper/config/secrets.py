"""Credentials: where they are read from (file, environment, systemd), how they are saved, redacted.

Sources, read in this order for one account; a later source overrides an earlier one::

    1. the secrets file   YAML ``account: {key: value}``; $KLAPPER_SECRETS, else
                          ``platformdirs.user_config_dir("klapper")/secrets.yaml``
    2. the environment    KLAPPER_<ACCOUNT>_<KEY> (capitals, non-alphanumerics -> ``_``)
    3. systemd            $CREDENTIALS_DIRECTORY: the YAML file ``klapper-secrets`` (same shape
                          as the secrets file), then one file per key named ``<account>.<key>``

One exception keeps refreshed tokens alive: when klapper saves a value (after ``klapper login``
or a token refresh) that differs from what the environment or systemd gave, the file notes a
fingerprint of the value it replaced (``_replaces``). While that source still holds exactly the
replaced value, the newer value from the file wins; once you change the source, yours wins again.
Under systemd the credentials are read-only, so the unit sets KLAPPER_SECRETS to a file in the
state folder, where refreshed tokens go.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import platformdirs
import yaml

#: the systemd credential holding a whole secrets file (LoadCredential=klapper-secrets:...)
CREDENTIALS_FILE = "klapper-secrets"
#: the reserved key in a file entry that records which outside values a saved one replaced
REPLACES_KEY = "_replaces"
#: keys whose values identify an account publicly; they are stored here but never redacted
PUBLIC_KEYS = frozenset(
    {
        "handle",
        "did",
        "service",
        "username",
        "user_id",
        "account_id",
        "acct",
        "author",
        "client_id",
        "instance",
        "page_id",
        "page_name",
        "identity_checked",
    }
)
#: values shorter than this are not redacted: they would match everywhere and hide nothing
MIN_REDACT_LENGTH = 4
REDACTED = "[redacted]"

SOURCE_FILE, SOURCE_ENV, SOURCE_SYSTEMD = "secrets file", "environment", "systemd credential"


class SecretsError(Exception):
    """The credentials store cannot be used as it is; the message says what to do."""


def secrets_path(*, environ: Mapping[str, str] | None = None) -> Path:
    """The secrets file klapper reads and writes: $KLAPPER_SECRETS or the XDG config folder."""
    env = os.environ if environ is None else environ
    if env.get("KLAPPER_SECRETS"):
        return Path(env["KLAPPER_SECRETS"]).expanduser()
    return Path(platformdirs.user_config_dir("klapper")) / "secrets.yaml"


def env_name(account: str, key: str) -> str:
    """The environment variable for one key: account ``bsky``, key ``app_password`` ->
    ``KLAPPER_BSKY_APP_PASSWORD``."""
    return f"KLAPPER_{_env_part(account)}_{_env_part(key)}"


def load_secrets(
    account: str, *, environ: Mapping[str, str] | None = None, path: Path | None = None
) -> dict[str, str]:
    """All credentials of ``account``, merged from the three sources (see the module docstring)."""
    return {key: value for key, (value, _) in _merge(account, environ, path).items()}


def secret_origins(
    account: str, *, environ: Mapping[str, str] | None = None, path: Path | None = None
) -> dict[str, str]:
    """Key -> the source its value comes from (for `klapper accounts`); never the values."""
    return {key: origin for key, (_, origin) in _merge(account, environ, path).items()}


def save_secrets(
    account: str,
    values: Mapping[str, str],
    *,
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path:
    """Store ``account``'s credentials in the secrets file (atomically, 0600); returns its path.

    ``values`` replaces the account's entry; other accounts' entries are kept. Values equal to
    what the environment or systemd already give are not copied into the file.
    """
    target = path or secrets_path(environ=environ)
    outside = _outside_layers(account, environ)
    entry: dict[str, Any] = {}
    replaces: dict[str, str] = {}
    for key, value in values.items():
        if key == REPLACES_KEY:
            continue
        given = outside.get(key)
        if given == str(value):
            continue  # the outside source has it already; a copy here would only go stale
        entry[key] = str(value)
        if given is not None:
            replaces[key] = fingerprint(given)
    if replaces:
        entry[REPLACES_KEY] = replaces
    _make_private_dir(target.parent)
    with _locked(target):
        data = _read_file(target) if target.exists() else {}
        if entry:
            data[account] = entry
        else:
            data.pop(account, None)
        _write_atomically(target, data)
    return target


def accounts_in_file(*, path: Path | None = None) -> list[str]:
    """Account names with an entry in the secrets file (none when it does not exist)."""
    target = path or secrets_path()
    return sorted(_read_file(target)) if target.exists() else []


def fingerprint(value: str) -> str:
    """A short, one-way mark of a value: tells whether it changed without keeping it."""
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:24]


# --- redaction ------------------------------------------------------------------------------


def secret_values(secrets: Mapping[str, str]) -> list[str]:
    """The values of ``secrets`` that must never be shown (public identifiers excluded)."""
    return [v for k, v in secrets.items() if k not in PUBLIC_KEYS and isinstance(v, str) and v]


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (also URL-encoded, as in a query string) replaced."""
    forms: set[str] = set()
    for secret in secrets:
        if not secret or len(secret) < MIN_REDACT_LENGTH:
            continue
        forms.update({secret, quote(secret), quote(secret, safe=""), quote_plus(secret)})
    # Longest first, so a secret containing another is replaced whole.
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, REDACTED)
    return text


def scrub_exception(exc: BaseException, secrets: Iterable[str]) -> BaseException:
    """Redact ``exc`` and its chained causes in place (their text ends up in tracebacks)."""
    values = [s for s in secrets if s]
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.args = tuple(
            redact(arg, values) if isinstance(arg, str) else arg for arg in current.args
        )
        current = current.__cause__ or current.__context__
    return exc


class RedactingFilter(logging.Filter):
    """A logging filter that removes known secrets from every record passing a handler."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: set[str] = set(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        self._secrets.update(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            message = record.getMessage()
            if record.exc_info and not record.exc_text:
                # Format the traceback now so its text is redacted too.
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.msg, record.args = redact(message, self._secrets), None
            if record.exc_text:
                record.exc_text = redact(record.exc_text, self._secrets)
                record.exc_info = None
        return True


# --- internals ------------------------------------------------------------------------------


def _env_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", text).upper()


def _merge(
    account: str, environ: Mapping[str, str] | None, path: Path | None
) -> dict[str, tuple[str, str]]:
    target = path or secrets_path(environ=environ)
    entry = _read_file(target).get(account, {}) if target.exists() else {}
    replaces = entry.get(REPLACES_KEY) or {}
    merged = {k: (v, SOURCE_FILE) for k, v in entry.items() if k != REPLACES_KEY}
    for origin, layer in _outside_sources(account, environ):
        for key, value in layer.items():
            current = merged.get(key)
            if current and current[1] == SOURCE_FILE and replaces.get(key) == fingerprint(value):
                continue  # the outside value is the one klapper refreshed away from
            merged[key] = (value, origin)
    return merged


def _outside_layers(account: str, environ: Mapping[str, str] | None) -> dict[str, str]:
    merged: dict[str, str] = {}
    for _, layer in _outside_sources(account, environ):
        merged.update(layer)
    return merged


def _outside_sources(
    account: str, environ: Mapping[str, str] | None
) -> list[tuple[str, dict[str, str]]]:
    env = os.environ if environ is None else environ
    prefix = f"KLAPPER_{_env_part(account)}_"
    from_env = {
        name[len(prefix) :].lower(): value
        for name, value in env.items()
        if name.startswith(prefix) and value
    }
    return [(SOURCE_ENV, from_env), (SOURCE_SYSTEMD, _systemd(account, env))]


def _systemd(account: str, env: Mapping[str, str]) -> dict[str, str]:
    folder = env.get("CREDENTIALS_DIRECTORY")
    if not folder or not Path(folder).is_dir():
        return {}
    base = Path(folder)
    found: dict[str, str] = {}
    whole = base / CREDENTIALS_FILE
    if whole.is_file():
        # systemd already made this private; only the shape is checked.
        entry = _parse(whole.read_text(encoding="utf-8"), whole).get(account, {})
        found.update({k: v for k, v in entry.items() if k != REPLACES_KEY})
    for item in sorted(base.glob(f"{_glob_escape(account)}.*")):
        key = item.name[len(account) + 1 :]
        if key and item.is_file():
            found[key] = item.read_text(encoding="utf-8").rstrip("\r\n")
    return found


def _glob_escape(text: str) -> str:
    """``text`` with glob wildcards escaped (account names may contain ``[``)."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def _read_file(target: Path) -> dict[str, dict[str, Any]]:
    try:
        info = target.stat()
    except OSError as exc:
        raise SecretsError(f"cannot read the secrets file {target}: {exc.strerror}") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretsError(
            f"the secrets file {target} can be read or changed by other users "
            f"(mode {stat.S_IMODE(info.st_mode):04o}); klapper will not use it until you run: "
            f"chmod 600 {target}"
        )
    return _parse(target.read_text(encoding="utf-8"), target)


def _parse(text: str, origin: Path) -> dict[str, dict[str, Any]]:
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        # Never quote the YAML error itself: its snippet may show a secret.
        raise SecretsError(
            f"{origin}{where} is not valid YAML; fix it or move it away and run `klapper login`"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SecretsError(f"{origin} must map account names to {{key: value}}")
    result: dict[str, dict[str, Any]] = {}
    for account, entry in data.items():
        if entry is None:
            continue
        if not isinstance(entry, dict):
            raise SecretsError(f"{origin}: the entry for {account!r} must be a mapping key: value")
        clean: dict[str, Any] = {}
        for key, value in entry.items():
            if key == REPLACES_KEY and isinstance(value, dict):
                clean[key] = {str(k): str(v) for k, v in value.items()}
            elif isinstance(value, dict | list):
                raise SecretsError(
                    f"{origin}: {account}.{key} must be a single value, not a list or mapping"
                )
            elif value is not None:
                clean[str(key)] = str(value)
        result[str(account)] = clean
    return result


def _make_private_dir(folder: Path) -> None:
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
        os.chmod(folder, 0o700)  # mkdir's mode is subject to the umask


@contextlib.contextmanager
def _locked(target: Path) -> Iterator[None]:
    # A login and a daemon refreshing a token must not lose each other's update.
    lock_path = target.with_name(f".{target.name}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write_atomically(target: Path, data: Mapping[str, Any]) -> None:
    text = (
        "# klapper credentials (account -> key: value). Keep private: chmod 600.\n"
        "# Written by `klapper login` and token refreshes; comments are not kept.\n"
        + yaml.safe_dump(dict(data), sort_keys=True, allow_unicode=True, default_flow_style=False)
    )
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
