"""The credentials store: source order, file permissions, atomic saves, refresh survival, redaction."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from klapper.config.secrets import (
    RedactingFilter,
    SecretsError,
    accounts_in_file,
    env_name,
    load_secrets,
    redact,
    save_secrets,
    secret_origins,
    secret_values,
    secrets_path,
)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "config" / "klapper" / "secrets.yaml"


def test_env_name_follows_the_documented_naming() -> None:
    assert env_name("bsky", "app_password") == "KLAPPER_BSKY_APP_PASSWORD"
    assert env_name("shop-masto.social", "access_token") == "KLAPPER_SHOP_MASTO_SOCIAL_ACCESS_TOKEN"


def test_default_path_and_override(tmp_path: Path) -> None:
    assert secrets_path(environ={}).name == "secrets.yaml"
    assert (
        secrets_path(environ={"KLAPPER_SECRETS": str(tmp_path / "s.yaml")}) == tmp_path / "s.yaml"
    )


def test_save_creates_private_file_in_private_folder(store: Path) -> None:
    assert save_secrets("masto", {"access_token": "tok-123456"}, path=store, environ={}) == store
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.parent.stat().st_mode) == 0o700
    assert load_secrets("masto", path=store, environ={}) == {"access_token": "tok-123456"}
    assert not list(store.parent.glob("*.tmp"))  # the temporary file was renamed away


def test_save_keeps_other_accounts_and_replaces_own_entry(store: Path) -> None:
    save_secrets("a", {"access_token": "aaaa1", "old": "gone"}, path=store, environ={})
    save_secrets("b", {"app_password": "bbbb2"}, path=store, environ={})
    save_secrets("a", {"access_token": "aaaa3"}, path=store, environ={})
    assert load_secrets("a", path=store, environ={}) == {"access_token": "aaaa3"}
    assert load_secrets("b", path=store, environ={}) == {"app_password": "bbbb2"}
    assert accounts_in_file(path=store) == ["a", "b"]


def test_refuses_a_file_others_can_read_and_names_the_fix(store: Path) -> None:
    save_secrets("a", {"access_token": "aaaa1"}, path=store, environ={})
    os.chmod(store, 0o640)
    with pytest.raises(SecretsError, match=f"chmod 600 {store}"):
        load_secrets("a", path=store, environ={})
    with pytest.raises(SecretsError, match="chmod 600"):
        save_secrets("a", {"access_token": "x"}, path=store, environ={})


def test_bad_yaml_is_reported_without_its_content(store: Path) -> None:
    store.parent.mkdir(parents=True)
    store.write_text("a:\n  access_token: secret-value-9\n  - broken\n")
    os.chmod(store, 0o600)
    with pytest.raises(SecretsError) as info:
        load_secrets("a", path=store, environ={})
    assert "secret-value-9" not in str(info.value)
    assert f"{store}:" in str(info.value)


def test_nested_values_are_refused(store: Path) -> None:
    store.parent.mkdir(parents=True)
    store.write_text("a:\n  access_token: [1, 2]\n")
    os.chmod(store, 0o600)
    with pytest.raises(SecretsError, match="a.access_token must be a single value"):
        load_secrets("a", path=store, environ={})


def test_order_file_then_environment_then_systemd(store: Path, tmp_path: Path) -> None:
    save_secrets(
        "a", {"k1": "file1", "k2": "file2", "k3": "file3", "k4": "file4"}, path=store, environ={}
    )
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "klapper-secrets").write_text("a: {k3: yaml3, k4: yaml4}\nb: {k1: other}\n")
    (creds / "a.k4").write_text("single4\n")
    environ = {"KLAPPER_A_K2": "env2", "KLAPPER_A_K3": "env3", "CREDENTIALS_DIRECTORY": str(creds)}
    assert load_secrets("a", path=store, environ=environ) == {
        "k1": "file1",
        "k2": "env2",
        "k3": "yaml3",
        "k4": "single4",
    }
    assert secret_origins("a", path=store, environ=environ) == {
        "k1": "secrets file",
        "k2": "environment",
        "k3": "systemd credential",
        "k4": "systemd credential",
    }


def test_missing_file_and_no_sources_mean_no_secrets(store: Path) -> None:
    assert load_secrets("a", path=store, environ={}) == {}
    assert accounts_in_file(path=store) == []


def test_refreshed_token_outlives_the_stale_outside_value(store: Path, tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "x.refresh_token").write_text("refresh-old-1")
    environ = {"CREDENTIALS_DIRECTORY": str(creds), "KLAPPER_SECRETS": str(store)}
    assert load_secrets("x", environ=environ) == {"refresh_token": "refresh-old-1"}
    # A refresh (single-use refresh tokens) saves the new value; systemd's copy is read-only.
    save_secrets("x", {"refresh_token": "refresh-new-2"}, environ=environ)
    assert "refresh-old-1" not in store.read_text()
    assert load_secrets("x", environ=environ) == {"refresh_token": "refresh-new-2"}
    # Once the person puts a new credential in place, theirs wins again.
    (creds / "x.refresh_token").write_text("refresh-by-hand-3")
    assert load_secrets("x", environ=environ) == {"refresh_token": "refresh-by-hand-3"}


def test_values_already_given_outside_are_not_copied(store: Path) -> None:
    environ = {"KLAPPER_A_ACCESS_TOKEN": "from-env-1"}
    save_secrets(
        "a", {"access_token": "from-env-1", "session": "sess-2"}, path=store, environ=environ
    )
    assert "from-env-1" not in store.read_text()
    assert load_secrets("a", path=store, environ=environ) == {
        "access_token": "from-env-1",
        "session": "sess-2",
    }


def test_redact_replaces_plain_and_url_encoded_forms() -> None:
    secret = "canary/SECRET+1234"
    text = f"Bearer {secret}; url ?token=canary%2FSECRET%2B1234 and canary/SECRET%2B1234"
    out = redact(text, [secret, "ab"])
    assert "SECRET" not in out
    assert out.count("[redacted]") == 3
    assert redact("ab stays", ["ab"]) == "ab stays"  # too short to mean anything


def test_secret_values_skip_public_identifiers() -> None:
    assert secret_values({"handle": "shop.bsky.social", "app_password": "pw-1234"}) == ["pw-1234"]


def test_redacting_filter_cleans_messages_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("klapper.test.redact")
    secret_filter = RedactingFilter(["tok-SECRET-99"])
    caplog.handler.addFilter(secret_filter)
    try:
        try:
            raise RuntimeError("failed with tok-SECRET-99")
        except RuntimeError:
            logger.exception("call with %s failed", "tok-SECRET-99")
    finally:
        caplog.handler.removeFilter(secret_filter)
    assert "tok-SECRET-99" not in caplog.text
    assert "[redacted]" in caplog.text
