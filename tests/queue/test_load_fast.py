"""The loader's fast paths give what the general paths give: reading, resolving, validating."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
import yaml

from klapper.config.yamlsrc import YamlError, read_documents
from klapper.queue import LoadCache, Repository, load_repository
from klapper.queue.files import read_file, stamp_of
from klapper.queue.model import Problem, Source
from tests.queue.repo_helpers import make_repo, png_bytes


def test_read_file_takes_the_stamp_of_the_open_file(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_bytes(b"text: hello\n")
    assert read_file(str(path)) == (b"text: hello\n", stamp_of(path.stat()))


SCALARS = [
    "yes",
    "No",
    "~",
    "null",
    "",
    "12",
    "0x1f",
    "0o17",
    "1_000",
    "3.5",
    ".inf",
    "-.NaN",
    "2026-06-02",
    "2026-06-02 10:00:00",
    "2026-06-02T10:00:00+02:00",
    "2026-06-02 10:00",
    "<<",
    "=",
    "on",
    "OFF",
    "plain words",
    "+1",
    "1e3",
    "0b101",
    "190:20:30",
]


@pytest.mark.parametrize("style", ["{v}", "'{v}'", '"{v}"', "|\n  {v}", "!!str {v}"])
def test_scalars_resolve_as_pyyaml_does(style: str) -> None:
    for value in SCALARS:
        if value == "<<" or (not value and style.startswith("!!")):
            continue  # a bare merge key is not a value; an empty tagged scalar is fine elsewhere
        text = f"k: {style.format(v=value)}\nl: [{value or 'x'}, {{a: {value or 'x'}}}]\n"
        try:
            expected = yaml.load(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            with pytest.raises(YamlError):
                read_documents(text.encode())
            continue
        assert read_documents(text.encode())[0].data == expected, text


def test_shared_images_are_checked_once_per_load_and_each_post_still_gets_its_error(
    tmp_path: Path,
) -> None:
    outside = tmp_path / "outside.png"
    outside.write_bytes(png_bytes())
    posts = {
        f"posts/{folder}/p{n}.yaml": f"text: hi\nmedia: {{file: ../../media/{image}, alt: a}}\n"
        for folder in ("a", "b")
        for n, image in enumerate(("ok.png", "out.png"))
    }
    root = make_repo(tmp_path / "repo", {"media/ok.png": png_bytes(), **posts})
    os.symlink(outside, root / "media" / "out.png")
    repo = load_repository(root)
    assert sorted(p.id for p in repo.posts) == ["posts/a/p0.yaml", "posts/b/p0.yaml"]
    assert {p.media[0].path for p in repo.posts} == {root.absolute() / "media" / "ok.png"}
    assert sorted((p.source.file, p.source.line) for p in repo.problems) == [
        ("posts/a/p1.yaml", 2),
        ("posts/b/p1.yaml", 2),
    ]
    assert all("symlink pointing outside" in p.message for p in repo.problems)
    # A later load sees a change of the link: nothing is remembered between loads.
    (root / "media" / "out.png").unlink()
    (root / "media" / "out.png").write_bytes(png_bytes())
    assert len(load_repository(root).posts) == 4


@pytest.mark.parametrize(
    "value",
    [
        "2026-06-02",
        "2026-06-02 10:00:00",
        "2026-06-02T10:00:00",
        "2026-06-02t10:00:00",
        "2026-06-02T10:00:00Z",
        "2026-06-02T10:00:00+02:00",
        "2026-06-02T10:00:00-05:30",
        "2026-06-02 10:00:00 +02:00",
        "2026-06-02T10:00:00.25+02:00",
        "2026-06-02 1:00:00",
        "2026-06-02T10:00:00+2",
        "2026-06-02T24:00:00",
        "2026-02-30",
        "2026-06-02T10:00:00-00:00",
    ],
)
def test_times_are_read_as_pyyaml_reads_them(value: str) -> None:
    text = f"at: {value}\nalso: &t {value}\nsame: *t\n"
    try:
        expected = yaml.load(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, ValueError):
        with pytest.raises(YamlError):
            read_documents(text.encode())
        return
    data = read_documents(text.encode())[0].data
    assert data == expected
    assert type(data["at"]) is type(expected["at"])
    assert (
        getattr(data["at"], "utcoffset", lambda: None)()
        == getattr(expected["at"], "utcoffset", lambda: None)()
    )


def _age(root: Path) -> None:
    """Date every folder an hour back, so that their listings are not "racy" and are kept."""
    old = time.time_ns() - 3600 * 10**9
    for folder in [root / "posts", *(root / "posts").rglob("*")]:
        if folder.is_dir() and not folder.is_symlink():
            os.utime(folder, ns=(old, old))


def test_unchanged_folders_are_not_listed_again_and_changes_still_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_repo(
        tmp_path, {"posts/a/one.yaml": "text: one\n", "posts/b/two.yaml": "text: two\n"}
    )
    _age(root)
    cache = LoadCache()
    assert [p.text for p in load_repository(root, cache=cache).posts] == ["one", "two"]
    assert len(cache.listings) == 3  # posts, posts/a, posts/b
    listed: list[str] = []
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path: listed.append(path) or real_scandir(path))

    one = root / "posts" / "a" / "one.yaml"
    one.write_text("text: one, edited in place\n")
    stat = one.stat()
    os.utime(one, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert [p.text for p in load_repository(root, cache=cache).posts] == [
        "one, edited in place",
        "two",
    ]
    assert listed == []

    (root / "posts" / "a" / "three.yaml").write_text("text: three\n")
    (root / "posts" / "b" / "two.yaml").unlink()
    assert [p.text for p in load_repository(root, cache=cache).posts] == [
        "one, edited in place",
        "three",
    ]
    assert sorted(os.path.relpath(p, root) for p in listed) == ["posts/a", "posts/b"]


def test_a_folder_holding_a_symlink_is_listed_every_time(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path / "repo",
        {"posts/real.yaml": "text: real\n", "notes/linked.yaml": "text: linked\n"},
    )
    os.symlink(root / "notes" / "linked.yaml", root / "posts" / "link.yaml")
    _age(root)
    cache = LoadCache()
    assert sorted(p.text for p in load_repository(root, cache=cache).posts) == ["linked", "real"]
    assert cache.listings == {}
    (root / "notes" / "linked.yaml").write_text("text: changed behind the link\n")
    assert sorted(p.text for p in load_repository(root, cache=cache).posts) == [
        "changed behind the link",
        "real",
    ]


def _summary(repo: Repository) -> tuple[list[tuple[str, str, Source]], list[Problem]]:
    return [(p.id, p.text, p.source) for p in repo.posts], repo.problems


def test_cached_rescans_agree_with_a_fresh_load_through_random_edits(tmp_path: Path) -> None:
    root = make_repo(tmp_path, {})
    rng = random.Random(5)
    # "posts/a-z.yaml" sorts before "posts/a/..." as a path, after the folder "a" in a walk.
    names = [f"posts/{folder}/{name}.yaml" for folder in ("a", "b/c") for name in "pqrs"]
    names += ["posts/a-z.yaml", "posts/b.yaml"]
    caches = [LoadCache(), LoadCache(watched=True)]
    for cache in caches:
        load_repository(root, cache=cache)
    seen_posts = 0
    for step in range(60):
        path = root / rng.choice(names)
        if path.exists() and rng.random() < 0.3:
            path.unlink()
        else:
            posts = [
                f"- {{id: p{rng.randint(1, 12)}, text: step {step} n{n}}}"
                for n in range(rng.randint(0, 3))
            ]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(posts) + "\n" if posts else "text: [unclosed\n")
            os.utime(path, ns=(step * 10**9, step * 10**9))
        caches[1].changed([path])
        expected = _summary(load_repository(root))
        seen_posts += len(expected[0])
        for cache in caches:
            assert _summary(load_repository(root, cache=cache)) == expected, (step, cache)
    assert seen_posts > 200  # the edits made posts, not only broken files
