"""klapper.yaml: every fault reported with its line and column, and a suggestion where we can."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest

from klapper.config.load import ConfigError, load_config
from klapper.config.yamlsrc import YamlError, read_documents


def _load(tmp_path: Path, text: str):
    (tmp_path / "klapper.yaml").write_text(text)
    return load_config(tmp_path)


def _issues(tmp_path: Path, text: str) -> list[tuple[int, int, str]]:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    return [(i.line, i.column, i.message) for i in caught.value.issues]


def test_a_full_config_loads(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        """\
timezone: America/New_York
accounts:
  shop: {platform: mastodon, instance: "https://m.example", text_limit: 1000}
  outbox: {platform: outbox, path: out}
defaults: {to: [shop, outbox], lang: en, catch_up: 30m, alt_required: false}
slots:
  mon: [09:30, "14:00"]
paths: {posts: content/posts}
""",
    )
    assert config.slots["mon"] == (time(9, 30), time(14, 0))  # unquoted 09:30 is YAML's 570
    assert config.defaults.catch_up == timedelta(minutes=30)
    assert config.accounts["shop"].text_limit == 1000


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    config = _load(tmp_path, "# nothing yet\n")
    assert config.timezone == "UTC" and config.default_accounts() == ("outbox",)


def test_unknown_keys_suggest_at_any_depth(tmp_path: Path) -> None:
    assert _issues(
        tmp_path,
        """\
accounts:
  shop: {platform: mastodon, instnce: "https://m.example"}
defaults:
  catchup: 2h
""",
    ) == [
        (2, 30, "accounts › shop: unknown key 'instnce'; did you mean 'instance'?"),
        (4, 3, "defaults: unknown key 'catchup'; did you mean 'catch_up'?"),
    ]


def test_wrong_values_are_located(tmp_path: Path) -> None:
    issues = _issues(
        tmp_path,
        """\
timezone: Mars/Olympus
accounts:
  shop: {platform: myspace}
defaults: {catch_up: soon}
slots: {mon: ["25:00"], someday: ["09:00"]}
""",
    )
    where = {(line, column) for line, column, _ in issues}
    assert {(1, 11), (3, 20), (4, 22), (5, 15), (5, 25)} <= where
    messages = " | ".join(m for _, _, m in issues)
    assert "unknown time zone 'Mars/Olympus'" in messages
    assert "'soon' is not a duration" in messages
    assert (
        "accounts › shop › platform: unknown platform 'myspace'; known: outbox, mastodon"
        in messages
    )


def test_cross_checks(tmp_path: Path) -> None:
    assert _issues(
        tmp_path,
        """\
accounts:
  "my shop": {platform: outbox}
  out: {platform: outbox, path: /var/out}
defaults: {to: [shop]}
paths: {posts: ../elsewhere}
""",
    ) == [
        (2, 3, "account name 'my shop': use letters, digits, - and _ only"),
        (4, 17, "defaults › to: no account named 'shop' (accounts: my shop, out)"),
        (5, 16, "paths › posts must be a folder inside the repository"),
        (3, 33, "accounts › out › path must be a folder inside the repository"),
    ]


def test_missing_multi_document_and_syntax_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="has no klapper.yaml"):
        load_config(tmp_path)
    assert _issues(tmp_path, "timezone: UTC\n---\ntimezone: UTC\n")[0][:2] == (3, 1)
    ((line, _, message),) = _issues(tmp_path, "accounts:\n\toutbox: {}\n")
    assert (line, message.endswith("YAML indents with spaces, not tabs")) == (2, True)


def test_yaml_reader_locates_bad_values() -> None:
    with pytest.raises(YamlError) as caught:
        read_documents(b"text: ok\nat: 2026-13-45 10:00:00\n")
    assert (caught.value.line, caught.value.column) == (2, 5)
    assert [d.data for d in read_documents(b"a: 1\n---\n---\nb: 2\n")] == [{"a": 1}, {"b": 2}]


def test_linkedin_api_version_is_yyyymm_and_reaches_the_adapter_settings() -> None:
    from pydantic import ValidationError

    from klapper.config.platforms import account_settings

    account = account_settings(platform="linkedin", author="urn:li:person:x", api_version="202611")
    assert account.model_dump(exclude_none=True)["api_version"] == "202611"
    with pytest.raises(ValidationError, match="write YYYYMM"):
        account_settings(platform="linkedin", api_version="2026-11")
