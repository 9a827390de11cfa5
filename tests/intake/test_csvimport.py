"""`klapper import csv`: each tool's file -> post files that load, checked like `klapper check`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from klapper.cli import app
from klapper.intake import IntakeError, import_csv
from klapper.intake.csvimport import IntakeUsageError
from klapper.queue import check_posts, load_repository
from tests.intake.images import serve_images
from tests.queue.repo_helpers import make_repo, png_bytes

NOW = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", {})


def _csv(tmp_path: Path, text: str, name: str = "in.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def _run(repo: Path, csv: Path, fmt: str, **options):
    return import_csv(repo=repo, csv_file=csv, fmt=fmt, now=NOW, **options)


def _posts(repo: Path) -> dict[str, object]:
    loaded = load_repository(repo)
    assert not [p for p in loaded.problems if p.severity == "error"], loaded.problems
    return {post.id: post for post in loaded.posts}


def test_hootsuite_default_dates_quoting_and_refused_rows(repo: Path, tmp_path: Path) -> None:
    csv = _csv(
        tmp_path,
        (
            '12/24/2030 09:00,"Advent: ""20% off"" 🎄\nall week",https://example.com/advent\n'
            "12/25/2030 18:30,Merry Christmas\n"
            "\n"
            "25/12/2030 10:00,day first\n"  # line 5: not month/day/year
            "12/26/2030 10:00,\n"  # line 6: an empty message
            "12/27/2030 10:00,a,b,c\n"  # line 7: four columns
        ),
    )
    result = _run(repo, csv, "hootsuite")
    assert [o.line for o in result.written] == [1, 3]  # the first row spans two lines
    assert [(o.line, o.reason) for o in result.refused] == [
        (
            5,
            "date '25/12/2030 10:00' does not match the date format '%m/%d/%Y %H:%M' "
            "(--date-format)",
        ),
        (6, "this post has no text and no media"),
        (7, "a Hootsuite row has 2 or 3 columns (date and time, message, link); this one has 4"),
    ]
    assert result.written[0].file == "posts/imported/2030-12-24-0900-advent-20-off-all-week.yaml"
    posts = _posts(repo)
    advent = posts[result.written[0].post]
    assert advent.text == 'Advent: "20% off" 🎄\nall week\n\nhttps://example.com/advent'
    assert advent.at == datetime(2030, 12, 24, 8, 0, tzinfo=UTC)  # 09:00 in Berlin


def test_hootsuite_date_format_chosen_at_upload(repo: Path, tmp_path: Path) -> None:
    csv = _csv(tmp_path, "25/12/2030 10:00,day first\n")
    result = _run(repo, csv, "hootsuite", date_format_option="dd/mm/yyyy hh:mm")
    assert len(result.written) == 1 and not result.refused
    with pytest.raises(IntakeUsageError, match="--date-format"):
        _run(repo, csv, "hootsuite", date_format_option="day first please")


def test_same_file_again_writes_nothing_twice(repo: Path, tmp_path: Path) -> None:
    csv = _csv(tmp_path, "12/24/2030 09:00,Once only\n12/24/2030 09:00,Once only\n")
    first = _run(repo, csv, "hootsuite")
    assert [o.line for o in first.written] == [1]
    assert [(o.line, o.reason) for o in first.skipped] == [(2, "imported before")]
    written = sorted((repo / "posts/imported").iterdir())
    # Moved and renamed since: still found by its id.
    written[0].rename(repo / "posts" / "moved.yaml")
    again = _run(repo, csv, "hootsuite")
    assert not again.written and [o.file for o in again.skipped] == ["posts/moved.yaml"] * 2
    assert not list((repo / "posts/imported").glob("*.yaml"))


def test_round_trip_of_awkward_text(repo: Path, tmp_path: Path) -> None:
    texts = [
        "key: value # not a comment",
        "'single' and \"double\" quotes",
        "- looks like a list",
        "emoji 👩‍👩‍👧 and ZWJ, trailing space \nnext",
        "yes",
        "@mention: {flow} [list] & *alias !tag %",
        "line one\n\n  indented line\nlast",
        "   leading spaces and a tab\there",
    ]
    body = "".join(
        f'12/{i + 1:02d}/2030 10:00,"{t.replace(chr(34), chr(34) * 2)}"\n'
        for i, t in enumerate(texts)
    )
    result = _run(repo, _csv(tmp_path, body), "hootsuite")
    assert not result.refused, result.refused
    posts = _posts(repo)
    assert [posts[o.post].text for o in result.written] == [t.strip() for t in texts]


def test_publer_columns_blank_date_alt_text_and_images(repo: Path, tmp_path: Path) -> None:
    image = png_bytes()
    with serve_images({"/a.png": image, "/page.html": b"<html>not an image</html>"}) as server:
        csv = _csv(
            tmp_path,
            (
                "Date,Text,Link(s),Media URL(s),Title,Label(s),Alt text(s),Comment(s)\n"
                f"2030-06-01 09:00,With an image,,{server.url}/a.png?sig=secret,,,A red dot,\n"
                ",Into the next slot,https://example.com,,,,,\n"
                f"2030/06/02 09:00,Not an image,,{server.url}/page.html,,,x,\n"
                f"2030-06-03 09:00,Gone,,{server.url}/missing.png,,,x,\n"
                "next Friday at 2 PM,Words for a date,,,,,,\n"
            ),
        )
        result = _run(repo, csv, "publer")
        again = _run(repo, csv, "publer")
    assert [o.line for o in result.written] == [2, 3]
    refused = {o.line: o.reason for o in result.refused}
    assert refused[4] == (
        f"image {server.url}/page.html is not an image: its content is not PNG, JPEG, GIF or WebP"
    )
    assert refused[5] == f"image {server.url}/missing.png answered HTTP 404"
    assert refused[6].startswith("date 'next Friday at 2 PM' is not a date and time")
    assert "secret" not in json.dumps(result.to_json())
    media = list((repo / "media").iterdir())
    assert [m.read_bytes() for m in media] == [image]  # once, though imported twice
    assert server.hits["/a.png"] == 1 and len(again.skipped) == 2  # known: not fetched again
    posts = _posts(repo)
    with_image = posts[result.written[0].post]
    assert [(m.path, m.alt) for m in with_image.media] == [(media[0], "A red dot")]
    slotted = posts[result.written[1].post]
    assert slotted.at is None and slotted.text == "Into the next slot\n\nhttps://example.com"
    assert result.written[1].file.startswith("posts/imported/next-slot-into-the-next-slot")


def test_image_without_alt_text_is_refused_like_check(repo: Path, tmp_path: Path) -> None:
    with serve_images({"/a.png": png_bytes()}) as server:
        csv = _csv(
            tmp_path,
            "text,link,imageUrls,gifUrls,videoUrls,"
            "postAtSpecificTime (yyyy-MM-dd HH:mm:ss)\n"
            f"No alt,,{server.url}/a.png,,,2030-06-01 09:00:00\n"
            f"A video,,,,{server.url}/v.mp4,2030-06-01 10:00:00\n"
            "Seconds kept,,,,,2030-06-01 11:00:30\n",
        )
        result = _run(repo, csv, "socialbee")
    refused = {o.line: o.reason for o in result.refused}
    assert "has no alt text" in refused[2]
    assert refused[3] == "this row has a video; klapper posts images only"
    assert [o.line for o in result.written] == [4]
    assert _posts(repo)[result.written[0].post].at == datetime(2030, 6, 1, 9, 0, 30, tzinfo=UTC)


def test_image_larger_than_the_accounts_take_stops_the_download(repo: Path, tmp_path: Path) -> None:
    big = png_bytes(6 * 1024 * 1024)
    with serve_images({"/big.png": big, "/big-chunked.png": big}) as server:
        server.chunked.add("/big-chunked.png")
        csv = _csv(
            tmp_path,
            "Text,Image URL,Tags,Posting Time\n"
            f"Big,{server.url}/big.png,,2030-06-01 09:00\n"
            f"Big too,{server.url}/big-chunked.png,,2030-06-01 10:00\n",
        )
        result = _run(repo, csv, "buffer", to=("x",))  # X takes images up to 5 MB
    reasons = [o.reason for o in result.refused]
    assert (
        reasons[0] == f"image {server.url}/big.png is {len(big):,} bytes; the accounts take "
        "at most 5,242,880"
    )
    assert reasons[1] == (
        f"image {server.url}/big-chunked.png is larger than 5,242,880 bytes, "
        "the most the accounts take"
    )
    assert not (repo / "media").exists()


def test_buffer_times_with_offset_are_written_in_the_repositorys_zone(
    repo: Path, tmp_path: Path
) -> None:
    csv = _csv(
        tmp_path,
        "Text,Image URL,Tags,Posting Time\nSummer,,,2030-06-01T07:00:00Z\nGap,,,2030-03-31 02:30\n",
    )  # Berlin's clocks skip 02:00-03:00
    result = _run(repo, csv, "buffer")
    written = (repo / result.written[0].file).read_text()
    assert "at: 2030-06-01 09:00\n" in written
    assert [o.line for o in result.refused] == [3]
    assert "2030-03-31 02:30" in result.refused[0].reason


def test_too_long_for_an_account_is_refused(repo: Path, tmp_path: Path) -> None:
    csv = _csv(tmp_path, f"12/24/2030 09:00,{'a' * 281}\n12/24/2030 10:00,{'a' * 280}\n")
    result = _run(repo, csv, "hootsuite", to=("x",))
    assert [o.line for o in result.written] == [2]
    assert result.refused[0].reason == (
        "text is 281 characters as x counts them; the limit is 280 (account x)"
    )
    # What was written passes `klapper check` for that account.
    loaded = load_repository(repo)
    assert not [p for p in check_posts(loaded, now=NOW) if p.severity == "error"]


def test_whole_file_faults(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(IntakeError, match="line 1: no text column for publer"):
        _run(repo, _csv(tmp_path, "When,What\n2030-06-01 09:00,x\n"), "publer")
    with pytest.raises(IntakeError, match='is not UTF-8; save the file as "CSV UTF-8"'):
        _run(repo, _latin1(tmp_path), "hootsuite")
    with pytest.raises(IntakeUsageError, match="--to nobody: no such account"):
        _run(repo, _csv(tmp_path, ""), "hootsuite", to=("nobody",))
    broken = _csv(tmp_path, '12/24/2030 09:00,fine\n12/24/2030 10:00,"never closed\n')
    result = _run(repo, broken, "hootsuite")
    assert [o.line for o in result.written] == [1] and [o.line for o in result.refused] == [2]


def _latin1(tmp_path: Path) -> Path:
    path = tmp_path / "latin1.csv"
    path.write_bytes("12/24/2030 09:00,café\n".encode("latin-1"))
    return path


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KLAPPER_STATE", str(tmp_path / "state"))
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), catch_exceptions=False)


def test_command_line_text_json_and_exit_codes(cli, repo: Path, tmp_path: Path) -> None:
    csv = _csv(tmp_path, "12/24/2030 09:00,Good\n12/24/2030 10:00,\n")
    text = cli("import", "csv", str(csv), "--format", "hootsuite", "--repo", str(repo))
    assert text.exit_code == 1
    assert text.output.splitlines() == [
        "wrote posts/imported/2030-12-24-0900-good.yaml  (line 1)",
        f"{csv}:2: refused this post has no text and no media",
        "1 written, 0 imported before, 1 refused",
    ]
    good = _csv(tmp_path, "12/24/2030 09:00,Good\n", name="good.csv")
    as_json = cli(
        "import", "csv", str(good), "--format", "hootsuite", "--repo", str(repo), "--output", "json"
    )
    assert as_json.exit_code == 0
    assert json.loads(as_json.output) == {
        "written": [],
        "refused": [],
        "skipped": [
            {
                "line": 1,
                "file": "posts/imported/2030-12-24-0900-good.yaml",
                "post": json.loads(as_json.output)["skipped"][0]["post"],
                "reason": "imported before",
            }
        ],
    }
    usage = cli(
        "import", "csv", str(good), "--format", "hootsuite", "--repo", str(repo), "--to", "nobody"
    )
    assert usage.exit_code == 2 and "no such account" in usage.output
    assert cli("import", "csv", str(good), "--format", "excel", "--repo", str(repo)).exit_code == 2
    missing = cli(
        "import", "csv", str(tmp_path / "nope.csv"), "--format", "buffer", "--repo", str(repo)
    )
    assert missing.exit_code == 2 and "nope.csv: cannot read it" in missing.output
