"""Reading klapper.yaml into a Config, with every fault located by line and column."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from klapper.config.errors import field_errors
from klapper.config.model import Config
from klapper.config.safeopen import FileTooLarge, read_regular
from klapper.config.yamlsrc import MAX_BYTES, YamlError, locate, read_documents
from klapper.display import shown

CONFIG_FILE = "klapper.yaml"
# Account names become parts of environment variable names (KLAPPER_<ACCOUNT>_<KEY>).
ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class ConfigIssue:
    """One fault in klapper.yaml (1-based line and column)."""

    message: str
    line: int = 1
    column: int = 1


class ConfigError(Exception):
    """klapper.yaml is missing or wrong; ``issues`` lists every fault found."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        super().__init__("; ".join(issue.message for issue in issues))
        self.issues = issues


def _relative_inside(path: str) -> bool:
    """A path written in klapper.yaml that cannot leave the repository (symlinks are checked
    where the path is used)."""
    return not os.path.isabs(path) and ".." not in Path(path).parts


def load_config(repo: Path) -> Config:
    """The repository's klapper.yaml as a Config; ConfigError lists everything wrong with it."""
    path = repo / CONFIG_FILE
    try:
        if path.is_symlink() and not _inside(os.path.realpath(path), repo):
            raise ConfigError(
                [
                    ConfigIssue(
                        f"{CONFIG_FILE} is a symlink to a file outside the "
                        "content repository; klapper does not read it"
                    )
                ]
            )
        raw, _ = read_regular(path, limit=MAX_BYTES)
    except FileNotFoundError:
        raise ConfigError(
            [
                ConfigIssue(
                    f"{shown(str(repo))} has no {CONFIG_FILE}; is --repo right? "
                    "Start from examples/klapper.yaml"
                )
            ]
        ) from None
    except FileTooLarge as exc:
        raise ConfigError([ConfigIssue(f"{CONFIG_FILE}: {exc}")]) from None
    except OSError as exc:  # NotRegularFile (a FIFO never blocks the reader) among them
        raise ConfigError([ConfigIssue(f"cannot read {CONFIG_FILE}: {exc.strerror}")]) from None
    try:
        documents = read_documents(raw)
    except YamlError as exc:
        raise ConfigError([ConfigIssue(str(exc), exc.line, exc.column)]) from None
    if len(documents) > 1:
        line = documents[1].node.start_mark.line + 1
        raise ConfigError([ConfigIssue(f"{CONFIG_FILE} must be one YAML document", line)])
    if not documents:
        return Config()
    document = documents[0]
    if not isinstance(document.data, dict):
        raise ConfigError([ConfigIssue(f"{CONFIG_FILE} must be a mapping (key: value)", 1)])
    try:
        config = Config.model_validate(document.data)
    except ValidationError as exc:
        issues = [
            ConfigIssue(error.message, *locate(document.node, error.loc, key=error.at_key))
            for error in field_errors(exc, model=Config)
        ]
        raise ConfigError(issues) from None
    crossed = _cross_checks(config, repo=repo)
    if crossed:
        raise ConfigError(
            [
                ConfigIssue(message, *locate(document.node, loc, key=at_key))
                for loc, message, at_key in crossed
            ]
        )
    return config


def config_line(repo: Path, loc: Sequence[str | int]) -> int:
    """The line of klapper.yaml where ``loc`` (e.g. ``("feeds", 0)``) is written; 1 if unknown."""
    try:
        documents = read_documents(read_regular(repo / CONFIG_FILE, limit=MAX_BYTES)[0])
    except (OSError, YamlError, FileTooLarge):
        return 1
    return locate(documents[0].node, loc)[0] if documents else 1


def _inside(path: str, repo: Path) -> bool:
    root = os.path.realpath(repo)
    return path == root or path.startswith(root + os.sep)


def _log_problem(log: str, *, repo: Path) -> str | None:
    """Why ``paths.log`` may not be used: the event log is written, and a line in a file such
    as ~/.bashrc or /etc/cron.d/x is code. A relative path is inside the state folder; an
    absolute one must be inside the repository (symlinks resolved)."""
    if log.startswith("~") or (not os.path.isabs(log) and not _relative_inside(log)):
        return (
            "paths › log must stay inside the state folder (a relative path such as "
            "events.jsonl, without ..) or the repository"
        )
    if os.path.isabs(log) and not _inside(os.path.realpath(log), repo):
        return (
            f"paths › log {shown(log)!r} is outside the state folder and the repository; "
            "write it relative (to the state folder), e.g. events.jsonl"
        )
    return None


def _cross_checks(config: Config, *, repo: Path) -> list[tuple[tuple[str | int, ...], str, bool]]:
    """What one field cannot know alone: names that must exist, paths that must stay inside."""
    found: list[tuple[tuple[str | int, ...], str, bool]] = []
    for name in config.accounts:
        if not ACCOUNT_NAME.match(name):
            found.append(
                (
                    ("accounts", name),
                    f"account name {name!r}: use letters, digits, - and _ only",
                    True,
                )
            )
    for index, name in enumerate(config.defaults.to):
        if name not in config.accounts:
            known = ", ".join(config.accounts) or "none"
            found.append(
                (
                    ("defaults", "to", index),
                    f"defaults › to: no account named {name!r} (accounts: {known})",
                    False,
                )
            )
    if not _relative_inside(config.paths.posts):
        found.append(
            (("paths", "posts"), "paths › posts must be a folder inside the repository", False)
        )
    log_problem = _log_problem(config.paths.log, repo=repo) if config.paths.log else None
    if log_problem:
        found.append((("paths", "log"), log_problem, False))
    urls: set[str] = set()
    for index, feed in enumerate(config.feeds):
        if feed.url in urls:
            found.append(
                (
                    ("feeds", index, "url"),
                    f"feeds: {shown(feed.url)} is listed twice; list it once, with all its "
                    "accounts in `to`",
                    False,
                )
            )
        urls.add(feed.url)
        for number, name in enumerate(feed.to):
            if name not in config.accounts:
                known = ", ".join(config.accounts) or "none"
                found.append(
                    (
                        ("feeds", index, "to", number),
                        f"feeds › to: no account named {name!r} (accounts: {known})",
                        False,
                    )
                )
        if feed.template is not None and not _relative_inside(feed.template):
            found.append(
                (
                    ("feeds", index, "template"),
                    "feeds › template must be a file inside the repository",
                    False,
                )
            )
    for name, account in config.accounts.items():
        for key in account.repository_paths:
            value = getattr(account, key)
            if value is not None and not _relative_inside(value):
                found.append(
                    (
                        ("accounts", name, key),
                        f"accounts › {name} › {key} must be a folder inside the repository",
                        False,
                    )
                )
    return found
