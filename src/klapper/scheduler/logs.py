"""Log lines on stderr: readable text by default, one JSON object per line for machines."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from klapper.config.secrets import RedactingFilter
from klapper.display import is_shown_as_is, shown

#: the name of the handler setup_logging puts on the root logger
_HANDLER = "klapper"


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


def setup_logging(
    *, log_format: str = "text", verbose: bool = False, level: int = logging.INFO
) -> RedactingFilter:
    """Send klapper's logs, and the libraries' warnings, to stderr in one format.

    The handler sits on the root logger, so that a library's record (APScheduler's, watchdog's,
    urllib3's) goes through the same formatter and the same redaction as klapper's own; a
    library without a handler of its own would otherwise reach Python's last-resort handler,
    a plain line in the middle of JSON. Libraries speak from WARNING up (INFO with ``verbose``).
    Returns the filter that keeps secrets out of the logs.
    """
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        # Local time: these lines are for the person at the terminal (or journalctl).
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%Y-%m-%d %H:%M:%S%z")
        )
    redaction = RedactingFilter()
    handler.addFilter(redaction)
    handler.addFilter(_one_line)
    handler.set_name(_HANDLER)
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == _HANDLER:
            root.removeHandler(old)  # ours from an earlier call; others' (pytest's) stay
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    own = logging.getLogger("klapper")
    for old in list(own.handlers):
        own.removeHandler(old)
    own.setLevel(logging.DEBUG if verbose else level)
    own.propagate = True
    return redaction
