"""The rescan cache: after one file changes, only that file is parsed again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from klapper.queue import LoadCache, load_repository
from klapper.queue import files as files_module
from klapper.queue import load as load_module
from tests.queue.repo_helpers import make_repo


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The repository-relative names of the files parsed, in order."""
    seen: list[str] = []
    real = files_module.load_file

    def spy(path, *, file, ctx, stamp):
        seen.append(file)
        return real(path, file=file, ctx=ctx, stamp=stamp)

    monkeypatch.setattr(load_module, "load_file", spy)
    return seen


def _touch(path: Path, text: str) -> None:
    path.write_text(text)
    stat = path.stat()  # make the change visible even on coarse-mtime file systems
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def _repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path, {f"posts/p{i}.yaml": f"text: post {i}\n" for i in range(5)})


def test_only_the_changed_file_is_parsed(tmp_path: Path, parsed: list[str]) -> None:
    root, cache = _repo(tmp_path), LoadCache()
    first = load_repository(root, cache=cache)
    assert len(parsed) == 5 and len(first.posts) == 5
    parsed.clear()
    assert load_repository(root, cache=cache).posts == first.posts
    assert parsed == []
    _touch(root / "posts/p3.yaml", "text: changed\n")
    (root / "posts/p1.yaml").unlink()
    (root / "posts/new.yaml").write_text("text: new\n")
    again = load_repository(root, cache=cache)
    assert sorted(parsed) == ["posts/new.yaml", "posts/p3.yaml"]
    assert [p.id for p in again.posts] == [
        "posts/new.yaml",
        "posts/p0.yaml",
        "posts/p2.yaml",
        "posts/p3.yaml",
        "posts/p4.yaml",
    ]
    assert next(p for p in again.posts if p.id == "posts/p3.yaml").text == "changed"


def test_a_config_change_reparses_everything(tmp_path: Path, parsed: list[str]) -> None:
    root, cache = _repo(tmp_path), LoadCache()
    load_repository(root, cache=cache)
    parsed.clear()
    config = root / "klapper.yaml"
    _touch(config, config.read_text().replace("Europe/Berlin", "America/New_York"))
    repo = load_repository(root, cache=cache)
    assert len(parsed) == 5 and repo.config.timezone == "America/New_York"


def test_watched_cache_looks_only_at_noted_paths(tmp_path: Path, parsed: list[str]) -> None:
    root, cache = _repo(tmp_path), LoadCache(watched=True)
    load_repository(root, cache=cache)
    parsed.clear()
    _touch(root / "posts/p2.yaml", "text: two\n")
    (root / "posts/sub").mkdir()
    (root / "posts/sub/x.yaml").write_text("text: x\n")
    (root / "posts/p4.yaml").unlink()
    cache.changed([root / "posts/p2.yaml", root / "posts/sub", root / "posts/p4.yaml"])
    repo = load_repository(root, cache=cache)
    assert sorted(parsed) == ["posts/p2.yaml", "posts/sub/x.yaml"]
    assert [p.id for p in repo.posts] == [
        "posts/p0.yaml",
        "posts/p1.yaml",
        "posts/p2.yaml",
        "posts/p3.yaml",
        "posts/sub/x.yaml",
    ]
    parsed.clear()
    assert load_repository(root, cache=cache).posts == repo.posts and parsed == []
    cache.rescan_all()
    load_repository(root, cache=cache)
    assert parsed == []  # a full walk, but nothing changed: still nothing parsed


def test_duplicate_ids_across_cached_files_are_still_found(tmp_path: Path) -> None:
    root, cache = _repo(tmp_path), LoadCache()
    load_repository(root, cache=cache)
    _touch(root / "posts/p0.yaml", "id: posts/p1.yaml\ntext: clash\n")
    repo = load_repository(root, cache=cache)
    assert len([p for p in repo.problems if "used more than once" in p.message]) == 2
