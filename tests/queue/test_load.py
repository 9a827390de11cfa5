"""Loading post files: ids, positions, problems with file:line:column, isolation of bad files."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from klapper.queue import check_posts, load_repository
from tests.queue.repo_helpers import make_repo, png_bytes


def _problems(repo):
    return [(str(p.source), p.severity, p.message) for p in repo.problems]


def test_ids_for_single_list_and_multi_document_files(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        {
            "posts/one.yaml": "text: hello\n",
            "posts/list.yaml": "- text: a\n- text: b\n",
            "posts/docs.yml": "text: c\n---\nid: named\ntext: d\n---\n",
            "posts/sub/deep.yaml": "text: e\n",
        },
    )
    repo = load_repository(root)
    assert repo.problems == []
    ids = [p.id for p in repo.posts]
    assert ids == [
        "posts/docs.yml#1",
        "named",
        "posts/list.yaml#1",
        "posts/list.yaml#2",
        "posts/one.yaml",
        "posts/sub/deep.yaml",
    ]
    lines = {p.id: p.source.line for p in repo.posts}
    assert lines["posts/list.yaml#2"] == 2 and lines["named"] == 3


def test_unknown_key_points_at_the_key_and_suggests(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        {
            "posts/a.yaml": """\
        text: hi
        media:
          - file: x.png
            atl: a picture
        """
        },
    )
    repo = load_repository(root)
    assert _problems(repo) == [
        ("posts/a.yaml:4:5", "error", "media › #1: unknown key 'atl'; did you mean 'alt'?")
    ]
    assert repo.posts == []


def test_wrong_types_unknown_accounts_and_empty_posts(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        {
            "posts/types.yaml": "text: 42\ndraft: maybe\n",
            "posts/acct.yaml": "text: hi\nto: [outbox, mastdon]\n",
            "posts/empty.yaml": "lang: en\n",
            "posts/lang.yaml": "text: hei\nlang: no\n",
        },
    )
    found = {
        (p.source.file, p.source.line, p.source.column): p.message
        for p in load_repository(root).problems
    }
    assert "expected text, got the number 42" in found["posts/types.yaml", 1, 7]
    assert "expected true or false" in found["posts/types.yaml", 2, 8]
    assert found["posts/acct.yaml", 2, 14] == "no account named 'mastdon'; did you mean 'masto'?"
    assert found["posts/empty.yaml", 1, 1] == "this post has no text and no media"
    assert "put the value in quotes" in found["posts/lang.yaml", 2, 7]


def test_yaml_syntax_error_has_line_and_column_and_others_still_load(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        {
            "posts/a.yaml": "text: fine\n",
            "posts/b.yaml": "text: [unclosed\nat: 2026-01-01 10:00\n",
            "posts/c.yaml": "text: also fine\n",
            "posts/d.yaml": b"text: caf\xe9\n",
            "posts/e.yaml": "every: */5 * * * *\ntext: x\n",
        },
    )
    repo = load_repository(root)
    assert [p.id for p in repo.posts] == ["posts/a.yaml", "posts/c.yaml"]
    by_file = {p.source.file: p for p in repo.problems}
    assert by_file["posts/b.yaml"].source.line == 2
    assert by_file["posts/b.yaml"].message.startswith("YAML syntax:")
    assert "not UTF-8" in by_file["posts/d.yaml"].message
    assert "must be quoted" in by_file["posts/e.yaml"].message


def test_duplicate_ids_name_both_places_and_keep_neither(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        {
            "posts/a.yaml": "id: sale\ntext: one\n",
            "posts/b.yaml": "text: other\n---\nid: sale\ntext: two\n",
        },
    )
    repo = load_repository(root)
    assert repo.posts == [next(p for p in repo.posts if p.id == "posts/b.yaml#1")]
    messages = sorted((str(p.source), p.message) for p in repo.problems)
    assert messages == [
        (
            "posts/a.yaml:1:1",
            "id 'sale' is used more than once: here and at posts/b.yaml:3:1; "
            "give each post its own id",
        ),
        (
            "posts/b.yaml:3:1",
            "id 'sale' is used more than once: here and at posts/a.yaml:1:1; "
            "give each post its own id",
        ),
    ]


def test_an_id_with_control_characters_is_an_error(tmp_path: Path) -> None:
    # YAML's double quotes can write an escape sequence; ids are shown and logged everywhere.
    root = make_repo(
        tmp_path,
        {
            "posts/a.yaml": 'id: "sale\\e[2J"\ntext: one\n',
            "posts/b.yaml": "id: sale-2026\ntext: two\n",
        },
    )
    repo = load_repository(root)
    assert [p.id for p in repo.posts] == ["sale-2026"]
    assert [(str(p.source), p.message) for p in repo.problems] == [
        (
            "posts/a.yaml:1:5",
            "id 'sale\\x1b[2J': no spaces, no '|' and no control characters please",
        )
    ]


def test_broken_config_stops_loading_with_located_problems(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path, {"posts/a.yaml": "text: hi\n"}, config="timezone: Europe/Berln\naccount: {}\n"
    )
    repo = load_repository(root)
    assert repo.posts == []
    assert (
        "klapper.yaml:1:11",
        "error",
        "timezone: unknown time zone 'Europe/Berln'; use an IANA name such as Europe/Berlin",
    ) in _problems(repo)
    assert (
        "klapper.yaml:2:1",
        "error",
        "unknown key 'account'; did you mean 'accounts'?",
    ) in _problems(repo)


def test_missing_config_is_an_error(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {"posts/a.yaml": "text: hi\n"}, config=None)
    repo = load_repository(root)
    assert repo.posts == [] and "has no klapper.yaml" in repo.problems[0].message


def test_naive_times_with_and_without_seconds_and_offsets(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        {
            "posts/a.yaml": "text: a\nat: 2026-06-02 10:00\n",
            "posts/b.yaml": "text: b\nat: 2026-06-02 10:00:00\n",
            "posts/c.yaml": "text: c\nat: 2026-06-02T10:00+02:00\n",
            "posts/d.yaml": "text: d\nat: 2026-06-02T08:00:00Z\n",
            "posts/e.yaml": "text: e\nat: 2026-06-02 10:00 +02:00\n",
        },
    )
    repo = load_repository(root)
    assert repo.problems == []
    instants = {p.at.astimezone(UTC) for p in repo.posts}
    assert instants == {datetime(2026, 6, 2, 8, 0, tzinfo=UTC)}


def test_spring_gap_is_an_error_with_valid_times_and_autumn_takes_the_first(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        {
            "posts/gap.yaml": "text: a\nat: 2026-03-29 02:30\n",
            "posts/fold.yaml": "text: b\nat: 2026-10-25 02:30\n",
            "posts/date.yaml": "text: c\nat: 2026-10-25\n",
        },
    )
    repo = load_repository(root)
    messages = {p.source.file: p.message for p in repo.problems}
    assert messages["posts/gap.yaml"] == (
        "at: 2026-03-29 02:30 does not exist in Europe/Berlin: the clocks jump from 02:00 to "
        "03:00 that day (daylight saving time); write 01:59 or 03:00 instead"
    )
    assert "has no time of day" in messages["posts/date.yaml"]
    (fold,) = repo.posts
    assert fold.at.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert fold.at_note is not None and "happens twice" in fold.at_note


def test_every_rules(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        {
            "posts/both.yaml": "text: a\nat: 2026-06-02 10:00\nevery: '0 9 * * *'\n",
            "posts/count.yaml": "text: b\nevery: '0 9 * * *'\ncount: 3\n",
            "posts/cron.yaml": "text: c\nevery: '0 25 * * *'\n",
            "posts/until.yaml": "text: d\nuntil: 2026-06-02 10:00\n",
        },
    )
    messages = {p.source.file: p.message for p in load_repository(root).problems}
    assert "either `at` (once) or `every`" in messages["posts/both.yaml"]
    assert messages["posts/count.yaml"].startswith("count needs `start`")
    assert messages["posts/cron.yaml"] == "every: cron hour '25' is not in 0-23"
    assert "only works with `every`" in messages["posts/until.yaml"]


def _outside_media_repo(tmp_path: Path) -> tuple[Path, Path]:
    outside = tmp_path / "secret.png"
    outside.write_bytes(png_bytes())
    root = make_repo(
        tmp_path / "repo",
        {
            "posts/abs.yaml": f"text: a\nmedia: [{{file: {outside}, alt: x}}]\n",
            "posts/up.yaml": "text: b\nmedia: [{file: ../../secret.png, alt: x}]\n",
            "posts/link.yaml": "text: c\nmedia: [{file: ../media/link.png, alt: x}]\n",
            "posts/ok.yaml": "text: d\nmedia: [{file: ../media/ok.png, alt: x}]\n",
            "media/ok.png": png_bytes(),
        },
    )
    os.symlink(outside, root / "media" / "link.png")
    return root, outside


def test_media_outside_the_repository_is_an_error_and_never_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, outside = _outside_media_repo(tmp_path)
    opened: list[str] = []
    real_open = os.open

    def spy(file, *args, **kwargs):  # every file klapper reads is opened with os.open
        opened.append(os.path.realpath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    repo = load_repository(root)
    check_posts(repo, now=datetime(2026, 1, 1, tzinfo=UTC))
    messages = {p.source.file: p.message for p in repo.problems}
    assert "is absolute" in messages["posts/abs.yaml"]
    assert "leaves the content repository" in messages["posts/up.yaml"]
    assert "symlink pointing outside" in messages["posts/link.yaml"]
    assert [p.id for p in repo.posts] == ["posts/ok.yaml"]
    assert str(outside) not in opened
    assert os.path.realpath(root / "media" / "ok.png") in opened


def test_symlinked_post_file_outside_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text("text: from outside\n")
    root = make_repo(tmp_path / "repo", {"posts/in.yaml": "text: in\n"})
    os.symlink(outside, root / "posts" / "out.yaml")
    repo = load_repository(root)
    assert [p.id for p in repo.posts] == ["posts/in.yaml"]
    assert repo.problems[0].message.startswith("symlink to a file outside")


def test_alias_bomb_and_recursion_are_problems(tmp_path: Path) -> None:
    bomb = (
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n"
            for p, n in zip("abcdefgh", "bcdefghi", strict=True)
        )
        + "text: boom\n"
    )
    root = make_repo(
        tmp_path,
        {
            "posts/bomb.yaml": bomb,
            "posts/loop.yaml": "text: &t [*t]\n",
            "posts/fine.yaml": "text: ok\n",
        },
    )
    repo = load_repository(root)
    messages = {p.source.file: p.message for p in repo.problems}
    assert "aliases expand" in messages["posts/bomb.yaml"]
    assert "refers to itself" in messages["posts/loop.yaml"]
    assert [p.id for p in repo.posts] == ["posts/fine.yaml"]


def test_not_a_mapping_and_unsafe_tags(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        {
            "posts/scalar.yaml": "just some text\n",
            "posts/python.yaml": "text: !!python/object/apply:os.system ['true']\n",
            "posts/nested.yaml": "- [a, b]\n- text: ok\n",
        },
    )
    repo = load_repository(root)
    messages = {(p.source.file, p.source.line): p.message for p in repo.problems}
    assert messages["posts/scalar.yaml", 1].startswith("a post is a mapping")
    assert "python/object" in messages["posts/python.yaml", 1]
    assert messages["posts/nested.yaml", 1].startswith("a post is a mapping")
    assert [p.id for p in repo.posts] == ["posts/nested.yaml#2"]


def test_per_overrides_and_options(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        {
            "posts/a.yaml": """\
        text: long text
        lang: en
        cw: Sale
        to: [masto, x, outbox]
        per:
          x: {text: short}
          masto: {visibility: unlisted, lang: de}
          mastodon: {text: for every mastodon account}
          mastodn: {text: typo}
        """
        },
    )
    repo = load_repository(root)
    (problem,) = repo.problems
    assert problem.message == (
        "per: no account or platform named 'mastodn'; did you mean 'mastodon'?"
    )
    assert (problem.source.line, problem.source.column) == (9, 3)
    fixed = make_repo(
        tmp_path / "fixed",
        {
            "posts/a.yaml": """\
        text: long text
        lang: en
        to: [masto, x, outbox]
        per:
          x: {text: short}
          masto: {visibility: unlisted, lang: de}
          mastodon: {text: for every mastodon account}
        """
        },
    )
    (post,) = load_repository(fixed).posts
    assert post.parts_for("x", "x")[0].text == "short"
    masto = post.parts_for("masto", "mastodon")[0]
    assert masto.text == "for every mastodon account"
    assert masto.options == {"lang": "de", "visibility": "unlisted"}
    assert post.parts_for("outbox", "outbox")[0].options == {"lang": "en"}
