"""Log lines on stderr: readable text by default, one JSON object per line for machines."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from klapper.config.secrets import RedactingFilter
from klapper.display import is_shown_as_is, shown


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message"}`` per line; ``ts`` in UTC."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exception"] = record.exc_text
        return json.dumps(data, ensure_ascii=False)


def _one_line(record: logging.LogRecord) -> bool:
    """A log line stays one line of text: control characters in a message (a file name's
    newline or escape sequence) are escaped, as everywhere names are shown (display.shown)."""
    message = record.getMessage()
    if not is_shown_as_is(message):
        record.msg, record.args = shown(message), None
    return True


def setup_logging(*, log_format: str = "text", verbose: bool = False,
                  level: int = logging.INFO) -> RedactingFilter:
    """Send klapper's logs to stderr; returns the filter that keeps secrets out of them."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        # Local time: these lines are for the person at the terminal (or journalctl).
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s",
                                               "%Y-%m-%d %H:%M:%S%z"))
    redaction = RedactingFilter()
    handler.addFilter(redaction)
    handler.addFilter(_one_line)
    root = logging.getLogger("klapper")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else level)
    root.propagate = False
    return redaction
