"""Bluesky record pieces that need no server: record keys, facet offsets, images, link cards."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from atproto_client import models
from atproto_client.models.string_formats import TID_RE
from hypothesis import given
from hypothesis import strategies as st

from klapper.adapters.base import MediaFile, PermanentError, Published, ThreadRef
from klapper.adapters.bluesky import RULES
from klapper.adapters.bluesky import record as rec
from klapper.adapters.bluesky.card import fetch_card
from tests.fakes.bluesky import Pages

SORTABLE = "234567abcdefghijklmnopqrstuvwxyz"
BLUESKY = RULES


def decode_tid(tid: str) -> tuple[int, int]:
    value = 0
    for char in tid:
        value = value * 32 + SORTABLE.index(char)
    return value >> 10, value & 0x3FF


@given(
    key=st.text(min_size=1, max_size=80),
    due=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
)
def test_record_key_is_a_valid_tid_fixed_by_the_delivery_and_sorting_by_due_time(key, due):
    tid = rec.record_key(idempotency_key=key, due=due)
    assert TID_RE.match(tid), tid
    assert rec.record_key(idempotency_key=key, due=due) == tid  # every attempt: the same key
    micros, _clock = decode_tid(tid)
    assert micros // 1_000_000 == int(due.timestamp())
    later = rec.record_key(idempotency_key=key, due=due + timedelta(seconds=1))
    assert later > tid  # base32-sortable: string order is time order


def test_record_keys_differ_per_part_and_without_a_due_time_stay_fixed():
    due = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    keys = {
        rec.record_key(idempotency_key=f"post.yaml||bsky#{part}", due=due) for part in range(500)
    }
    assert len(keys) == 500
    undated = rec.record_key(idempotency_key="post.yaml||bsky#0", due=None)
    assert TID_RE.match(undated)
    assert undated == rec.record_key(idempotency_key="post.yaml||bsky#0", due=None)
    micros, _ = decode_tid(undated)
    assert (
        datetime(2024, 1, 1, tzinfo=UTC)
        <= datetime.fromtimestamp(micros / 1e6, UTC)
        < datetime(2025, 2, 1, tzinfo=UTC)
    )


def _slices(text: str, facets: list[models.AppBskyRichtextFacet.Main]) -> list[tuple[str, object]]:
    raw = text.encode()
    return [(raw[f.index.byte_start : f.index.byte_end].decode(), f.features[0]) for f in facets]


def test_facets_use_utf8_byte_offsets_with_umlauts_and_emoji():
    text = "Grüße 🎉👩‍👩‍👧 an @Bob.test und @nobody.test: #Adventsmärkte! läuft 🎄 https://example.com/ä?x=1."
    dids = {"bob.test": "did:plc:bob"}
    asked: list[str] = []

    def resolve(handle: str) -> str | None:
        asked.append(handle)
        return dids.get(handle)

    found = _slices(text, rec.facets(text, resolve=resolve))
    assert asked == ["bob.test", "nobody.test"]  # lower-cased, each once
    assert [s for s, _ in found] == ["@Bob.test", "#Adventsmärkte", "https://example.com/ä?x=1"]
    mention, tag, link = (feature for _, feature in found)
    assert mention.did == "did:plc:bob"
    assert tag.tag == "Adventsmärkte"
    assert link.uri == "https://example.com/ä?x=1"  # the trailing full stop is not part of it
    assert rec.first_link(rec.facets(text, resolve=resolve)) == link.uri


def test_facets_of_plain_text_are_empty():
    assert rec.facets("nothing to see here", resolve=lambda handle: None) == []


def test_images_too_large_or_of_a_wrong_type_are_refused_with_the_reason(tmp_path):
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8" + bytes(BLUESKY.max_media_bytes))
    with pytest.raises(PermanentError, match="at most 1,000,000 bytes"):
        rec.read_image(MediaFile(big), max_bytes=BLUESKY.max_media_bytes, types=BLUESKY.media_types)
    doc = tmp_path / "notes.pdf"
    doc.write_bytes(b"%PDF")
    with pytest.raises(PermanentError, match="application/pdf"):
        rec.read_image(MediaFile(doc), max_bytes=BLUESKY.max_media_bytes, types=BLUESKY.media_types)
    ok = tmp_path / "ok.png"
    ok.write_bytes(b"\x89PNG" + bytes(BLUESKY.max_media_bytes - 4))  # exactly at the limit
    assert (
        rec.read_image(MediaFile(ok), max_bytes=BLUESKY.max_media_bytes, types=BLUESKY.media_types)[
            1
        ]
        == "image/png"
    )


def test_reply_refs_need_the_cid_and_langs_take_one_or_many():
    root = Published("at://did:plc:a/app.bsky.feed.post/3aaa", ref={"cid": "bafyroot"})
    parent = Published("at://did:plc:a/app.bsky.feed.post/3bbb", ref={"cid": "bafyparent"})
    ref = rec.reply_ref(ThreadRef(root=root, parent=parent))
    assert (ref.root.uri, ref.root.cid, ref.parent.cid) == (
        root.remote_id,
        "bafyroot",
        "bafyparent",
    )
    with pytest.raises(PermanentError, match="cid is unknown"):
        rec.reply_ref(ThreadRef(root=root, parent=Published("at://x/app.bsky.feed.post/3c")))
    assert rec.langs({"lang": "de"}) == ["de"]
    assert rec.langs({"lang": ["de", "en"]}) == ["de", "en"]
    assert rec.langs({}) is None


def test_web_url_and_times():
    uri = "at://did:plc:abc/app.bsky.feed.post/3n3lrow7rggwc"
    assert rec.web_url(uri) == "https://bsky.app/profile/did:plc:abc/post/3n3lrow7rggwc"
    assert rec.parse_time("2026-12-01T08:00:00.123Z") == datetime(
        2026, 12, 1, 8, 0, 0, 123000, tzinfo=UTC
    )
    assert rec.parse_time("garbage") is None
    assert rec.now_iso().endswith("Z") and len(rec.now_iso()) == 24


PAGE = b"""<!doctype html><html><head><meta charset="utf-8">
<title>  Advent   sale </title>
<meta property="og:title" content="Advent sale: 20% off">
<meta name="description" content="All workshops, all December.">
<meta property="og:image" content="/card.png">
</head><body><p>Hello</p></body></html>"""


@pytest.fixture
def pages():
    server = Pages(
        {
            "/advent": ("text/html; charset=utf-8", PAGE),
            "/plain": (
                "text/html",
                b"<html><head><title>Just a title</title></head><body></body></html>",
            ),
            "/file.zip": ("application/zip", b"PK"),
        }
    )
    yield server
    server.close()


def test_link_card_reads_open_graph_tags_then_title(pages):
    card = fetch_card(f"{pages.url}/advent", timeout=2)
    assert (card.title, card.description) == (
        "Advent sale: 20% off",
        "All workshops, all December.",
    )
    assert card.image == f"{pages.url}/card.png"
    plain = fetch_card(f"{pages.url}/plain", timeout=2)
    assert (plain.title, plain.description, plain.image) == ("Just a title", "", None)


def test_link_card_gives_up_quietly_on_missing_pages_other_types_and_closed_ports(pages):
    assert fetch_card(f"{pages.url}/missing", timeout=2) is None
    assert fetch_card(f"{pages.url}/file.zip", timeout=2) is None
    closed = Pages({})
    url = closed.url
    closed.close()
    assert fetch_card(f"{url}/gone", timeout=2) is None


def test_link_card_of_a_slow_page_gives_up_within_its_timeout():
    slow = Pages({"/slow": ("text/html", PAGE)}, delay=1.0)
    try:
        started = time.monotonic()
        assert fetch_card(f"{slow.url}/slow", timeout=0.2) is None
        assert time.monotonic() - started < 0.9
    finally:
        slow.close()


def test_link_facets_carry_the_campaign_tags_while_the_text_stays_short():
    text = "Advent: https://shop.de/advent?ref=1#top, kurse.de und #Sale"
    found = rec.facets(
        text, resolve=lambda handle: None, link_tags={"source": "bluesky", "campaign": "advent"}
    )
    links = [
        (text.encode()[f.index.byte_start : f.index.byte_end].decode(), f.features[0].uri)
        for f in found
        if isinstance(f.features[0], models.AppBskyRichtextFacet.Link)
    ]
    # The visible text is the link as written; the facet's target has the tags.
    assert links == [
        (
            "https://shop.de/advent?ref=1#top",
            "https://shop.de/advent?ref=1&utm_source=bluesky&utm_campaign=advent#top",
        ),
        ("kurse.de", "https://kurse.de/?utm_source=bluesky&utm_campaign=advent"),
    ]
    assert rec.first_link(found) == links[0][1]  # the link card reads the tagged page
    assert (
        next(
            f.features[0].uri
            for f in rec.facets(text, resolve=lambda h: None)
            if isinstance(f.features[0], models.AppBskyRichtextFacet.Link)
        )
        == "https://shop.de/advent?ref=1#top"
    )
