"""Campaign tags on links: which links are tagged, what of each link is kept, counts unchanged."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from klapper.adapters.counting import count_text, find_urls
from klapper.adapters.links import tag_text, tag_url

TAGS = {"source": "x", "medium": "social", "campaign": "posts/advent.yaml#2"}
ADDED = "utm_source=x&utm_medium=social&utm_campaign=posts%2Fadvent%2Eyaml%232"


@pytest.mark.parametrize(
    ("url", "tagged"),
    [
        ("https://shop.de/advent", f"https://shop.de/advent?{ADDED}"),
        # other query parameters and the fragment are kept as written, the tags go before the #
        ("https://shop.de/a?b=1&c=%C3%A4#top", f"https://shop.de/a?b=1&c=%C3%A4&{ADDED}#top"),
        ("https://shop.de/#kurse", f"https://shop.de/?{ADDED}#kurse"),
        ("https://shop.de/a?", f"https://shop.de/a?{ADDED}"),
        ("https://shop.de/a?b=1&", f"https://shop.de/a?b=1&{ADDED}"),
        # a utm_* parameter already there wins, however it is written
        (
            "https://shop.de/?utm_source=newsletter",
            "https://shop.de/?utm_source=newsletter&utm_medium=social&utm_campaign="
            "posts%2Fadvent%2Eyaml%232",
        ),
        (
            "https://shop.de/?UTM_Medium=print&utm%5Fcampaign=z",
            "https://shop.de/?UTM_Medium=print&utm%5Fcampaign=z&utm_source=x",
        ),
        ("shop.de/kurse", f"shop.de/kurse?{ADDED}"),
        ("www.shop.de", f"www.shop.de/?{ADDED}"),  # X ends a bare domain before a "?"
        ("https://shop.de?a=1", f"https://shop.de?a=1&{ADDED}"),
        ("https://t.co/abc", "https://t.co/abc"),  # X's short links: tags would reach nobody
    ],
)
def test_tag_url_keeps_query_fragment_and_existing_tags(url: str, tagged: str) -> None:
    assert tag_url(url, tags=TAGS) == tagged


def test_every_tag_present_leaves_the_url_alone_and_values_are_encoded() -> None:
    url = "https://shop.de/?utm_source=a&utm_medium=b&utm_campaign=c"
    assert tag_url(url, tags=TAGS) == url
    assert (
        tag_url("https://a.de/", tags={"campaign": "Grüße & mehr."})
        == "https://a.de/?utm_campaign=Gr%C3%BC%C3%9Fe%20%26%20mehr%2E"
    )


def test_trailing_punctuation_and_brackets_stay_outside_the_link() -> None:
    text = "Kurse (https://shop.de/kurse). Mehr: https://shop.de/a?b=1, bis bald!"
    tagged = tag_text(text, tags={"source": "masto"}, counting="mastodon")
    assert tagged == (
        "Kurse (https://shop.de/kurse?utm_source=masto). Mehr: "
        "https://shop.de/a?b=1&utm_source=masto, bis bald!"
    )


def test_a_link_the_platform_ends_before_a_query_or_fragment_is_left_alone() -> None:
    # X links only "shop.de" here: tagging it would make one link of "shop.de/?utm...?a=1".
    text = "Siehe shop.de?a=1 und shop.de#kurse"
    assert tag_text(text, tags={"source": "x"}, counting="x-weighted") == text
    joined = "https://shop.de(https://a.de"  # X ends the first link before "("
    assert (
        tag_text(joined, tags={"source": "x"}, counting="x-weighted")
        == "https://shop.de(https://a.de/?utm_source=x"
    )


def test_x_tags_bare_domains_and_the_others_only_links_with_a_scheme() -> None:
    text = "Jetzt auf shop.de/kurse und https://shop.de/"
    assert tag_text(text, tags={"source": "x"}, counting="x-weighted") == (
        "Jetzt auf shop.de/kurse?utm_source=x und https://shop.de/?utm_source=x"
    )
    assert tag_text(text, tags={"source": "li"}, counting="chars") == (
        "Jetzt auf shop.de/kurse und https://shop.de/?utm_source=li"
    )


@pytest.mark.parametrize("counting", ["x-weighted", "mastodon"])
def test_a_tagged_link_still_counts_23_on_x_and_mastodon(counting: str) -> None:
    text = "Adventsverkauf 🎄 https://shop.de/advent?ref=1#a und https://shop.de/b."
    tagged = tag_text(text, tags=TAGS, counting=counting)  # type: ignore[arg-type]
    assert tagged != text
    assert count_text(tagged, counting) == count_text(text, counting)  # type: ignore[arg-type]


_WORDS = st.sampled_from(
    [
        "Sale",
        "ab",
        "heute",
        "(",
        ")",
        ".",
        ",",
        "!",
        "?",
        "#Advent",
        "@shop",
        "🎄",
        "ä",
        "\n",
        " ",
        "https://shop.de",
        "https://shop.de/a?b=1",
        "https://shop.de/#x",
        "shop.de/kurse",
        "http://a.de/p(1)",
        "https://t.co/abc",
        "mailto:x@y.de",
        "https://shop.de/?utm_source=mail",
        "www.shop.de",
        "-",
        "/",
        ":",
        "?a=1",
        "#x",
        "&",
        "\u00a0",
        "https://shop.de/a_(b)",
        "HTTPS://SHOP.DE/X",
        "ftp://shop.de",
    ]
)


@settings(max_examples=1000, deadline=None)
@example(words=["www.shop.de", ".", "🎄", "www.shop.de"], counting="x-weighted")
@given(
    words=st.lists(_WORDS, max_size=14),
    counting=st.sampled_from(["x-weighted", "mastodon", "chars", "graphemes"]),
)
def test_tagging_never_changes_text_outside_links(words: list[str], counting: str) -> None:
    text = "".join(words)
    flavour = "x" if counting == "x-weighted" else "mastodon"
    tagged = tag_text(text, tags=TAGS, counting=counting)  # type: ignore[arg-type]
    before, after = find_urls(text, flavour=flavour), find_urls(tagged, flavour=flavour)
    # Outside links the text is the same, piece by piece; every link is still found whole.
    assert len(after) == len(before)
    pos_a = pos_b = 0
    for old, new in zip(before, after, strict=True):
        assert tagged[pos_b : new.start] == text[pos_a : old.start]
        # tagged, or left alone where tags would join it to the text after it
        assert new.url in (old.url, tag_url(old.url, tags=TAGS))
        pos_a, pos_b = old.end, new.end
    assert tagged[pos_b:] == text[pos_a:]
