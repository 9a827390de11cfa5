"""Log lines: every logger's records (klapper's and the libraries') in the one chosen format."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from klapper.scheduler.logs import setup_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root, own = logging.getLogger(), logging.getLogger("klapper")
    saved = (list(root.handlers), root.level, list(own.handlers), own.level, own.propagate)
    yield
    root.handlers[:], own.handlers[:], own.propagate = saved[0], saved[2], saved[4]
    root.setLevel(saved[1])  # setLevel, not .level: it clears the loggers' cached levels
    own.setLevel(saved[3])


def test_json_logs_carry_library_records_formatted_and_redacted(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    redaction = setup_logging(log_format="json")
    redaction.add(["s3cret-token"])
    logging.getLogger("klapper.daemon").info("klapper running")
    logging.getLogger("apscheduler.scheduler").warning(
        'Execution of job "x" skipped: maximum number of running instances reached (1)'
    )
    logging.getLogger("urllib3.connectionpool").warning("retrying with s3cret-token")
    logging.getLogger("apscheduler.scheduler").info("Added job")  # libraries: warnings up
    setup_logging(log_format="json")  # a second call replaces its handler: no line twice
    logging.getLogger("watchdog.observers").error("inotify failed")
    lines = capsys.readouterr().err.splitlines()
    records = [json.loads(line) for line in lines]
    assert [(r["logger"], r["level"]) for r in records] == [
        ("klapper.daemon", "info"),
        ("apscheduler.scheduler", "warning"),
        ("urllib3.connectionpool", "warning"),
        ("watchdog.observers", "error"),
    ]
    assert "s3cret-token" not in "".join(lines)
