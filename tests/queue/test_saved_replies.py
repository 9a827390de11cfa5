"""Saved replies (replies/*.yaml): loading with file and line, placeholders, `klapper check`."""

from __future__ import annotations

from pathlib import Path

import pytest

from klapper.config.load import load_config
from klapper.queue.replies import (
    PERSON_CHARS,
    SavedReplyError,
    check_saved_replies,
    load_saved_replies,
    saved_reply,
)
from tests.queue.repo_helpers import make_repo


def test_saved_replies_load_from_files_and_lists_with_where_their_text_starts(
    tmp_path: Path,
) -> None:
    repo = make_repo(
        tmp_path,
        {
            "replies/danke.yaml": """\
                name: danke-de
                lang: de
                text: |
                  Danke, {name}!
                  Ihr Team von {account} auf {platform}
                platforms: [mastodon]
            """,
            "replies/more.yml": """\
                - name: sorry-en
                  text: "Sorry, {handle}: we are on it."
                - name: braces
                  text: Use {{code}} blocks, {name}.
            """,
        },
    )
    replies = load_saved_replies(repo)
    assert sorted(replies) == ["braces", "danke-de", "sorry-en"]
    danke = replies["danke-de"]
    assert (str(danke.source), danke.lang, danke.platforms) == (
        "replies/danke.yaml:4:1",
        "de",
        ("mastodon",),
    )
    assert danke.goes_to(load_config(repo)) == ["masto"]
    assert danke.fill(name="Anna", handle="@anna", platform="Mastodon", account="masto") == (
        "Danke, Anna!\nIhr Team von masto auf Mastodon"
    )
    assert replies["sorry-en"].source.line == 2
    assert replies["braces"].fill(name="Ann", handle="", platform="", account="") == (
        "Use {code} blocks, Ann."
    )
    assert len(replies["sorry-en"].goes_to(load_config(repo))) == 5  # every account


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "name: a\ntext: |\n  Hallo {name},\n  Ihr {order} ist da.\n",
            "replies/r.yaml:4: unknown placeholder {order}",
        ),
        ("name: a\ntext: Hallo {name!r}\n", "replies/r.yaml:2: unknown placeholder {name}"),
        ("name: a\ntext: Hallo {name\n", "replies/r.yaml:2: expected '}'"),
        ("name: a\ntext: Hi\ncolour: red\n", "replies/r.yaml:1: unknown key 'colour'"),
        ("name: 'two words'\ntext: Hi\n", "replies/r.yaml:1: name:"),
        ("name: a\n", "replies/r.yaml:1: a needs a text"),
        ("name: a\ntext: [Hi\n", "replies/r.yaml:3: YAML syntax"),
    ],
)
def test_a_broken_saved_reply_names_its_file_and_line(
    tmp_path: Path, content: str, message: str
) -> None:
    repo = make_repo(tmp_path, {"replies/r.yaml": content})
    with pytest.raises(
        SavedReplyError,
        match="^" + message.replace("{", r"\{").replace("}", r"\}").replace("(", r"\("),
    ):
        saved_reply(repo, "a").fill(name="", handle="", platform="", account="")


def test_an_unknown_saved_reply_names_the_ones_there_are(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"replies/r.yaml": "name: danke\ntext: Danke!\n"})
    with pytest.raises(SavedReplyError, match="no saved reply 'thanks'.*danke"):
        saved_reply(repo, "thanks")
    twice = make_repo(
        tmp_path / "two",
        {"replies/a.yaml": "name: x\ntext: A\n", "replies/b.yaml": "name: x\ntext: B\n"},
    )
    with pytest.raises(
        SavedReplyError, match="replies/b.yaml:2:1: saved reply 'x' is also in replies/a.yaml"
    ):
        load_saved_replies(twice)


def test_check_counts_a_saved_reply_on_every_account_it_may_answer_on(tmp_path: Path) -> None:
    long = "x" * (280 - PERSON_CHARS - 1)  # fits X's 280 with a name of PERSON_CHARS, not more
    repo = make_repo(
        tmp_path,
        {
            "replies/fits.yaml": f"name: fits\ntext: '{long} {{name}}'\naccounts: [x]\n",
            "replies/long.yaml": f"name: long\ntext: |\n  {long} {{name}}!\n",
            "replies/ghost.yaml": "name: ghost\ntext: Hi\naccounts: [nobody]\n",
            "replies/bad.yaml": "name: bad\ntext: Hi {nobody}\n",
        },
    )
    problems = check_saved_replies(repo, load_config(repo))
    found = sorted((p.source.file, p.source.line, p.severity, p.account or "") for p in problems)
    assert found == [
        ("replies/bad.yaml", 2, "error", ""),
        ("replies/ghost.yaml", 2, "warning", ""),
        ("replies/long.yaml", 3, "error", "x"),
    ]
    [long_problem] = [p for p in problems if p.account == "x"]
    assert "281 characters" in long_problem.message and "at most 280" in long_problem.message
    [bad] = [p for p in problems if p.source.file == "replies/bad.yaml"]
    assert "unknown placeholder {nobody}" in bad.message
