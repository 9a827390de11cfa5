"""`klapper check --online` against a web server on 127.0.0.1 serving the media right and wrong.

The accounts with ``media_url`` (here Instagram) fetch each image from that address; check
asks each address once and names every wrong one with the post file, the line of its media
entry, the address and what to do. Without ``--online`` not one socket is opened.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from klapper.cli import app
from klapper.queue import load_repository
from klapper.queue.online import check_online
from tests.fakes.media_host import MediaHost, Serve
from tests.queue.repo_helpers import make_repo

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4
#: --timeout: the held-back address waits this long; the others answer well within it
WAIT = "1.5"
CONFIG = """\
timezone: Europe/Berlin
accounts:
  ig: {{platform: instagram, user: "17841400000000001", media_url: "{url}/shop/"}}
  box: {{platform: outbox, path: outbox}}
"""
POST = """\
text: {text}
at: 2030-06-02 10:00
to: [ig, box]
media:
{entries}
"""
#: file -> how the host serves it (None: not uploaded)
SERVED: dict[str, Serve | None] = {
    "good.jpg": Serve(JPEG),
    "two words.jpg": Serve(JPEG),
    "missing.jpg": None,
    "page.jpg": Serve(b"<html>login</html>", kind="text/html; charset=utf-8"),
    "old.jpg": Serve(JPEG[:600]),
    "slow.jpg": Serve(JPEG, hold=True),
    "loop.jpg": Serve(status=302, location="/shop/media/loop.jpg"),
    "s3.jpg": Serve(JPEG, head=False),
    "moved.jpg": Serve(status=301, location="/cdn/moved.jpg"),
    "chunked.jpg": Serve(JPEG, length=False),
}
IN_A = ["good.jpg", "missing.jpg", "page.jpg", "old.jpg", "two words.jpg"]
IN_B = ["slow.jpg", "loop.jpg", "s3.jpg", "moved.jpg", "chunked.jpg"]


def _post(text: str, files: list[str]) -> str:
    entries = "".join(f"  - file: ../media/{name}\n    alt: {name}\n" for name in files)
    return POST.format(text=text, entries=entries)


def _routes() -> dict[str, Serve]:
    routes = {
        "/shop/media/" + name.replace(" ", "%20"): serve
        for name, serve in SERVED.items()
        if serve is not None
    }
    routes["/cdn/moved.jpg"] = Serve(JPEG)
    return routes


@pytest.fixture
def host():
    host = MediaHost(_routes())
    with host.serve() as url:
        host.url = url
        yield host


@pytest.fixture
def repo(tmp_path: Path, host: MediaHost) -> Path:
    files: dict[str, str | bytes] = {f"media/{name}": JPEG for name in SERVED}
    files["posts/a.yaml"] = _post("Erster Post", IN_A)
    files["posts/b.yaml"] = _post("Zweiter Post", IN_B)
    return make_repo(tmp_path / "repo", files, config=CONFIG.format(url=host.url))


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KLAPPER_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("KLAPPER_SECRETS", str(tmp_path / "no-secrets.yaml"))
    monkeypatch.setenv("KLAPPER_IG_ACCESS_TOKEN", "test-token")
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


def _line_of(repo: Path, post: str, name: str) -> int:
    lines = (repo / "posts" / post).read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.endswith(f"/{name}"))


def test_check_alone_opens_no_socket(run, repo: Path, host: MediaHost, monkeypatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("klapper check opened a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    result = run("check", "--repo", str(repo))
    assert result.exit_code == 0, result.output
    assert host.requests == []


def test_every_wrong_address_is_one_line_with_file_line_and_what_to_do(
    run, repo: Path, host: MediaHost
) -> None:
    result = run("check", "--repo", str(repo), "--online", "--timeout", WAIT)
    assert result.exit_code == 1, result.output
    base = f"{host.url}/shop/media"
    a, b = "posts/a.yaml", "posts/b.yaml"
    expected = {
        (
            a,
            "missing.jpg",
            f"{base}/missing.jpg not found (404); upload media/missing.jpg to {base}/missing.jpg",
        ),
        (
            a,
            "page.jpg",
            f"{base}/page.jpg served as text/html, expected image/jpeg; serve media/page.jpg there",
        ),
        (
            a,
            "old.jpg",
            f"{base}/old.jpg size 600 bytes, the file has {len(JPEG)}; upload"
            " media/old.jpg again (the served copy is another one)",
        ),
        (
            b,
            "slow.jpg",
            f"{base}/slow.jpg did not answer within {WAIT} s; the platform would give up too",
        ),
        (
            b,
            "loop.jpg",
            f"{base}/loop.jpg redirects more than 5 times (a loop?); serve the file"
            " at that address directly",
        ),
        (
            b,
            "chunked.jpg",
            f"{base}/chunked.jpg gives no size (Content-Length); the file has {len(JPEG)} bytes",
        ),
    }
    lines = result.output.splitlines()
    for file, name, message in expected:
        line = _line_of(repo, file.split("/")[1], name)
        wanted = f"  {line}:5  error  {message} [{file} → ig]"
        assert wanted in lines, (wanted, result.output)
    assert "6 errors" in result.output
    # Each address asked once, never for the outbox; HEAD refused -> one ranged GET.
    asked = [p for method, p, _ in host.requests if method == "HEAD" and "loop" not in p]
    assert sorted(set(asked)) == sorted(asked)
    assert not any("/box" in p or "outbox" in p for _, p, _ in host.requests)
    assert ("GET", "/shop/media/s3.jpg", "bytes=0-0") in host.requests


def test_json_carries_the_findings_and_right_files_pass(run, repo: Path, host: MediaHost) -> None:
    result = run("check", "--repo", str(repo), "--online", "--timeout", WAIT, "-f", "json")
    assert result.exit_code == 1
    items = json.loads(result.output)
    urls = {item["message"].split()[0].rsplit("/", 1)[1] for item in items}
    assert urls == {"missing.jpg", "page.jpg", "old.jpg", "slow.jpg", "loop.jpg", "chunked.jpg"}
    assert {item["account"] for item in items} == {"ig"}
    assert {(item["file"], item["severity"]) for item in items} >= {("posts/a.yaml", "error")}


def test_a_repository_served_right_passes(
    run, tmp_path: Path, host: MediaHost, monkeypatch
) -> None:
    good = ["good.jpg", "two words.jpg", "s3.jpg", "moved.jpg"]
    files: dict[str, str | bytes] = {f"media/{name}": JPEG for name in good}
    files["posts/a.yaml"] = _post("Alles da", good)
    files["posts/draft.yaml"] = _post("Entwurf", ["missing.jpg"]) + "draft: true\n"
    files["media/missing.jpg"] = JPEG
    # Long past (no ledger in CI): never fetched again, so not asked.
    files["posts/old.yaml"] = _post("Von 2020", ["gone.jpg"]).replace("2030-06-02", "2020-06-02")
    files["media/gone.jpg"] = JPEG
    repo = make_repo(tmp_path / "ok", files, config=CONFIG.format(url=host.url))
    result = run("check", "--repo", str(repo), "--online")
    assert result.exit_code == 0, result.output
    assert "(draft) " in result.output and "warning" in result.output
    assert not any("gone" in path for _, path, _ in host.requests)


def test_progress_counts_each_address_once(repo: Path) -> None:
    seen: list[tuple[int, int]] = []
    problems = check_online(
        load_repository(repo),
        timeout=float(WAIT),
        progress=lambda done, total: seen.append((done, total)),
    )
    assert len(problems) == 6
    assert sorted(seen) == [(n, len(SERVED)) for n in range(1, len(SERVED) + 1)]


def test_only_web_addresses_are_asked_or_followed(host: MediaHost) -> None:
    import requests

    from klapper.queue.online import Address, ask

    host.routes["/shop/media/away.jpg"] = Serve(status=302, location="ftp://127.0.0.1/away.jpg")
    with requests.Session() as session:
        local = Address("file:///etc/passwd", "media/a.jpg", "image/jpeg", 1)
        assert "is no http(s) address" in str(ask(session, local, timeout=1))
        away = Address(f"{host.url}/shop/media/away.jpg", "media/away.jpg", "image/jpeg", 1)
        assert "redirects to an address that is not http(s)" in str(ask(session, away, timeout=1))
    assert [p for _, p, _ in host.requests] == ["/shop/media/away.jpg"]
