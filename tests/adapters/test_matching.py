"""How every adapter's `find` recognises a post: one window before the due time, one comparison."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from klapper.adapters.linkedin.text import from_little, to_little
from klapper.adapters.mastodon.limits import local_mentions
from klapper.adapters.matching import FIND_WINDOW, find_since, same_text
from klapper.adapters.x.adapter import shown_by_x


def test_the_window_reaches_back_from_the_due_time() -> None:
    due = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert find_since(due) == due - FIND_WINDOW and timedelta(minutes=10) == FIND_WINDOW
    assert find_since(None) is None


def test_texts_match_up_to_unicode_form_and_spacing() -> None:
    assert same_text("Caf\u00e9  opens\nat 9 ", "Cafe\u0301 opens at 9")
    assert not same_text("Café opens at 9", "Café opens at 10")


def test_each_platforms_rendering_is_undone_before_comparing() -> None:
    assert same_text("Hi @anna", "Hi @anna@other.social", shown_as=local_mentions)
    assert same_text(
        "Tea &amp; cake https://t.co/abc", "Tea & cake example.com/x", shown_as=shown_by_x
    )
    written = "Sale (20%) #advent"
    assert same_text(from_little(to_little(written)), written)
