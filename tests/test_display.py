"""display.shown: one helper escapes whatever a name holds before it is shown or logged."""

from __future__ import annotations

import io
import logging
import os

from klapper.cli.app import stdout_console
from klapper.display import is_shown_as_is, shown
from klapper.scheduler.logs import setup_logging


def test_control_characters_and_undecodable_bytes_are_escaped() -> None:
    assert shown("posts/evil\nWATCHDOG=trigger.yaml") == "posts/evil\\nWATCHDOG=trigger.yaml"
    assert shown("a\x1b[31mb\x07\x7f\x9b\r\t") == "a\\x1b[31mb\\x07\\x7f\\x9b\\r\\t"
    assert shown(os.fsdecode(b"caf\xe9.yaml")) == "caf\\xe9.yaml"  # the byte, as git shows it
    assert shown("abc\u202edef\u2028") == "abc\\u202edef\\u2028"  # bidi override, separator
    assert shown("line\nline", keep="\n") == "line\nline"


def test_ordinary_text_is_left_exactly_as_it_is() -> None:
    for text in ("posts/2026/café – Woche 1.yaml", "emoji 👩‍👩‍👧 joined", "a\\b [x]", "日本語"):
        assert shown(text) == text and is_shown_as_is(text)
    assert not is_shown_as_is("a\x1bb")


def test_the_results_console_escapes_every_control_character_it_renders() -> None:
    console = stdout_console()
    console.file = io.StringIO()
    console.print("post \x1b]0;pwned\x07 ok\nsecond line")
    assert console.file.getvalue() == "post \\x1b]0;pwned\\x07 ok\nsecond line\n"


def test_log_lines_stay_one_line(capsys) -> None:
    setup_logging(level=logging.INFO)
    logging.getLogger("klapper.test").warning("holding %s", "posts/a\nFAKE LINE\x1b[2J.yaml")
    assert capsys.readouterr().err.endswith("holding posts/a\\nFAKE LINE\\x1b[2J.yaml\n")
