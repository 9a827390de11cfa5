"""The preview page: rendered in headless Chromium, its DOM read back, a screenshot taken."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from klapper.preview import Images, render_page
from tests.preview.browser import Element, chromium, needs_chromium, parse
from tests.preview.sample import SCRIPT, make_sample
from tests.preview.test_model import NOW, _preview
from tests.queue.repo_helpers import make_repo, png_bytes


@pytest.fixture
def page(tmp_path: Path) -> Path:
    preview = _preview(make_sample(tmp_path / "repo", day=date(2030, 10, 21)))
    target = tmp_path / "preview.html"
    target.write_text(render_page(preview), encoding="utf-8")
    return target


def _delivery(dom: Element, post: int, account: str) -> Element:
    article = dom.all("article", cls="post")[post]
    return next(d for d in article.all(cls="delivery") if d.attrs["data-account"] == account)


@needs_chromium
def test_the_page_in_headless_chromium(page: Path, tmp_path: Path) -> None:
    dom = parse(chromium(page, profile=tmp_path / "profile", action="--dump-dom").decode())
    assert len(dom.all("article", cls="post")) == 4
    x = _delivery(dom, 0, "x")
    assert x.all(cls="text")[0].text == (
        "Advent sale: 20% off https://werkbank.de/advent?utm_source=x&utm_medium=social"
    )
    assert x.all(cls="url")[0].attrs["title"] == "counts 23 characters"
    assert [c.text for c in x.all(cls="count")] == ["44 / 280", "45 / 280", "27 / 280"]
    assert [n.text for n in x.all(cls="number")] == ["1/3", "2/3", "3/3"]
    assert [f.text for f in x.all("figcaption")] == [
        "alt Four white candles above a wooden workbench.",
        "no alt text",
    ]
    over = _delivery(dom, 1, "x").one(cls="count")
    assert "over" in over.classes and over.text == "328 / 280 · 48 over"
    assert "has-error" in _delivery(dom, 1, "x").classes
    masto = _delivery(dom, 0, "masto")
    assert masto.all(cls="cw")[0].text == "CW Sale"
    assert masto.all(cls="count")[0].attrs["title"].startswith("with the content warning")
    assert "title" not in x.all(cls="count")[0].attrs
    assert _delivery(dom, 3, "ig").one(cls="first-comment").one(cls="text").text == (
        "#holz #werkbank"
    )
    assert "utm_source=bluesky&utm_medium=social" in _delivery(dom, 0, "bsky").one(cls="tags").text
    # The calendar: local days, the clock change on Sunday the 27th.
    cells = {
        td.attrs["data-date"]: td for td in dom.one("table", cls="calendar").all("td", cls="day")
    }
    assert len(cells) == 7 and "today" in cells["2030-10-21"].classes
    assert [li.text for li in cells["2030-10-22"].all("li")] == [
        "09:00 bsky, masto, x Our advent sale starts today: 20% off all workshops."
    ]
    assert cells["2030-10-27"].one(cls="clock-change").text == (
        "clocks go back 1 h (UTC+02:00 → UTC+01:00)"
    )
    gap = dom.one("tr", cls="gap").one("td")  # two weeks without a post: one row
    assert (gap.attrs["data-from"], gap.attrs["data-until"]) == ("2030-10-28", "2030-11-10")
    assert gap.text == "2 weeks without posts: 28 Oct – 10 Nov 2030"
    assert (
        dom.one(cls="bad").one(cls="value").text == "6"
    )  # the errors card: 3 alt texts, 2 too long, a PNG for Instagram
    # The screenshot: kept beside the page; looked at while building the page.
    shot = tmp_path / "preview.png"
    chromium(page, profile=tmp_path / "profile", action=f"--screenshot={shot}")
    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")) == (
        1280,
        2600,
    )
    assert shot.stat().st_size > 100_000  # cards, images and a calendar, not a blank page


@needs_chromium
def test_a_post_text_cannot_run_script(page: Path, tmp_path: Path) -> None:
    served = chromium(page, profile=tmp_path / "profile", action="--dump-dom").decode()
    dom = parse(served)
    body = dom.one("body")
    assert "data-pwned" not in body.attrs and "data-pwned" not in served.split(">", 3)[2]
    assert dom.all("script") == [] and [i for i in dom.all("img")] == []
    outbox = _delivery(dom, 2, "outbox")
    assert outbox.one(cls="text").text == SCRIPT  # shown as written, as text
    assert dom.all("article")[2].one("h3").text == SCRIPT


def test_the_page_loads_nothing_and_embeds_each_image_once(page: Path) -> None:
    html = page.read_text()
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    urls = re.findall(r"url\(\"?([^\")]*)", html)
    assert len(urls) == 2 and all(u.startswith("data:image/png;base64,") for u in urls)
    elements = parse(html).all()
    assert not [e for e in elements if "src" in e.attrs or e.tag in ("link", "script", "img")]
    assert {e.attrs["href"][:6] for e in elements if "href" in e.attrs} == {"#post-"}
    assert "@import" not in html
    # the candles image shows four times (three accounts and Instagram), embedded once
    assert html.count('class="thumb img0"') == 4


def test_an_image_not_embedded_says_why(tmp_path: Path) -> None:
    (tmp_path / "big.png").write_bytes(png_bytes(5000))
    (tmp_path / "fake.png").write_bytes(b"<svg onload=alert(1)></svg>")
    images = Images(limit=1000)
    assert images.get(tmp_path / "big.png").why_not == "5,000 bytes: too large to embed"
    assert images.get(tmp_path / "fake.png").why_not == "not a PNG, JPEG, GIF or WebP image"
    assert images.get(tmp_path / "gone.png").why_not == "file not found"
    assert images.css() == ""
    (tmp_path / "small.png").write_bytes(png_bytes())
    assert images.get(tmp_path / "small.png").uri.startswith("data:image/png;base64,iVBOR")  # type: ignore[union-attr]
    assert images.css().startswith('.img3 { background-image: url("data:image/png;base64,')


def test_nothing_due_says_so(tmp_path: Path) -> None:
    repo = make_sample(tmp_path / "repo", day=date(2030, 10, 21))
    preview = _preview(repo, now=NOW.replace(year=2031))
    assert "Nothing due in this period." in render_page(preview)


def test_weeks_without_posts_are_one_row_that_keeps_the_clock_change(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "repo",
        {"posts/a.yaml": "text: early\nat: 2030-10-08 09:00\n"},
        config="timezone: Europe/Berlin\naccounts:\n  outbox: {platform: outbox, path: o}\n",
    )
    start = NOW.replace(day=7)  # Monday 7 October; the clocks go back on the 27th
    dom = parse(render_page(_preview(repo, days=40, now=start)))
    calendar = dom.one("table", cls="calendar")
    assert [td.attrs["data-date"] for td in calendar.all("td", cls="day")][:2] == [
        "2030-10-07",
        "2030-10-08",
    ]
    gap = calendar.one("tr", cls="gap").one("td")
    assert (gap.attrs["data-from"], gap.attrs["data-until"]) == ("2030-10-14", "2030-11-17")
    assert gap.text == (
        "5 weeks without posts: 14 Oct – 17 Nov 2030"
        "Sun 27 Oct: clocks go back 1 h (UTC+02:00 → UTC+01:00)"
    )
    assert len(calendar.all("tr")) == 3  # the heading, the first week, the gap


def test_a_busy_day_lists_twelve_posts_and_counts_the_rest(tmp_path: Path) -> None:
    posts = {
        f"posts/p{n:02}.yaml": f"text: post {n}\nat: 2030-10-22 {n:02}:00\n" for n in range(14)
    }
    repo = make_repo(
        tmp_path / "repo",
        posts,
        config="timezone: Europe/Berlin\naccounts:\n  outbox: {platform: outbox, path: o}\n",
    )
    dom = parse(render_page(_preview(repo, days=7)))
    day = next(td for td in dom.all("td", cls="day") if td.attrs["data-date"] == "2030-10-22")
    items = [li.text for li in day.all("li")]
    assert items[0] == "00:00 outbox post 0" and items[11] == "11:00 outbox post 11"
    assert items[12:] == ["+ 2 more"]
    assert len(dom.all("article", cls="post")) == 14  # every post still has its card
