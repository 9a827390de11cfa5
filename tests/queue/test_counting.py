"""Text length per platform: twitter-text conformance, Mastodon's rule, graphemes, properties."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from klapper.adapters import counting
from klapper.adapters.counting import COUNTINGS, URL_LENGTH, count_text, find_urls
from klapper.config.platforms import registry

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # man, woman, girl, boy
ENGLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
POEM = (  # 160 CJK characters (twitter-text's validate.yml)
    "故人西辞黄鹤楼，烟花三月下扬州。孤帆远影碧空尽，唯见长江天际流。朱雀桥边野草花，乌衣巷口夕阳斜。"
    "旧时王谢堂前燕，飞入寻常百姓家。朝辞白帝彩云间，千里江陵一日还。两岸猿声啼不住，轻舟已过万重山。"
    "泪湿罗巾梦不成，夜深前殿按歌声。红颜未老恩先断，斜倚薰笼坐到明。独在异乡为异客，每逢佳节倍思亲。"
    "遥知兄弟登高处，遍插茱萸少一人。"
)
KANA = "あいうえおかきくけこ"
X_BLOCK = "xxxxxxxxxx-"
PUNCTUATION = (
    "This is a tweet with general punctuation characters: "
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u200b "
    "‐ ‑ ‒ – — ― ‖  ‗ ‘ ’ ‚ ‛ “ ” „ ‟ ′ ″ ‴ ‵ ‶ ‷"
)

# twitter-text conformance/validate.yml: WeightedTweetsWithDiscountedEmojiCounterTest (config
# v3), UnicodeDirectionalMarkerCounterTest and the "lengths" cases; expected weightedLength.
X_CONFORMANCE = [
    ("Hi http://test.co", 26),
    ("http://test.co", 23),
    ("285 chars-" + X_BLOCK * 25, 285),
    ("285 chars- http://www.twitter.com/jack " + X_BLOCK * 24, 299),
    (X_BLOCK * 24 + " http://www.twitter.com/jack ", 289),
    ("https://www.twitter.com/aloha " * 10, 240),
    (POEM, 320),
    ("\U0001f637" * 160, 320),
    ("the" + POEM, 323),
    ("A\u0301B", 2),  # NFC makes A + combining acute one character
    ("A\ufb2c", 4),  # HEBREW LETTER SHIN WITH DAGESH AND SHIN DOT: NFC gives three
    ("282 chars-" + X_BLOCK * 24 + "xxxxxA\u0301x", 281),
    ("H\U0001f431\u263a" + FAMILY, 7),
    ("\U0001f637\U0001f47e\U0001f621\U0001f525\U0001f4a9", 10),
    ("\U0001f64b\U0001f3fd\U0001f468\u200d\U0001f3a4", 4),
    (PUNCTUATION, 110),
    (FAMILY * 140, 280),
    (
        "Unicode 10.0 emoji: \U0001f92a; \U0001f9d5; \U0001f9d5\U0001f3fe; " + ENGLAND,
        34,
    ),
    ("Unicode 9.0 emoji: \U0001f920; \U0001f483; \U0001f483\U0001f3fe", 29),
    ("ABC\u202a\uffffABC\ufffe", 12),
    ("\u2066\u202ahttp://foobar.پاکستان/\u202c\u2069", 31),
    ("randomurlrandomurlrandomurlrandomurlrandomurlrandomurlrandomurls.com", 68),
    (KANA * 12 + " http://" + KANA * 5 + "あいう.com", 358),  # punycode label > 63
    (KANA * 12 + " http://" + KANA * 5 + "あい.com", 264),
    ("This is a test.", 15),
    ("http://test.com", 23),
    ("https://test.com", 23),
    ("test.com", 23),
    ("Test https://test.com test https://test.com test.com test", 86),
]


@pytest.mark.parametrize(("text", "expected"), X_CONFORMANCE)
def test_x_weighted_matches_twitter_text_conformance(text: str, expected: int) -> None:
    assert count_text(text, "x-weighted") == expected


# Our own cases for the same rules: emoji sequences, light ranges, URLs, t.co.
X_CASES = [
    ("", 0),
    ("\U0001f1e9\U0001f1ea", 2),  # a flag
    ("\U0001f1e9\U0001f1ea\U0001f1eb\U0001f1f7", 4),  # two flags
    ("#\ufe0f\u20e3", 2),  # keycap
    ("1\u20e3", 2),  # keycap without VS16
    ("\u00a9", 1),  # copyright sign alone is text, in the light range
    ("\u00a9\ufe0f", 2),  # ... asked to look like emoji it is one emoji
    ("\u2764", 2),
    ("\u2764\ufe0f", 2),
    ("\u2764\ufe0e", 4),  # text presentation: heart 2 + VS15 2
    ("\U0001f44d\U0001f3ff", 2),  # skin tone
    ("\U0001f469\U0001f3fd\u200d\U0001f4bb", 2),  # woman technologist, medium skin tone
    ("\U0001f3f3\ufe0f\u200d\U0001f308", 2),  # rainbow flag
    ("\u2764\ufe0f\u200d\U0001f525", 2),  # heart on fire
    ("\U0001f468\u200d", 3),  # a trailing ZWJ joins nothing: 2 + 1
    ("\u200d", 1),  # ZWJ (U+200D) is in the light range 8192-8205
    ("\u2027\u2030\u2038", 6),  # just outside the light ranges
    ("\u2010\u201f\u2032\u2037\u10ff", 5),  # their edges
    ("\u1100", 2),  # the first heavy code point (Hangul Jamo)
    ("e\u0301", 1),  # NFC composes
    ("Z\u0351\u036b", 3),  # combining marks without a composition count each
    ("ñandú 🦤", 8),
    ("https://example.com/" + "a" * 500, URL_LENGTH),  # any length counts 23
    ("see example.com/path.", 4 + URL_LENGTH + 1),  # trailing period is text
    ("(https://example.com)", 2 + URL_LENGTH),
    ("https://en.wikipedia.org/wiki/Primer_(film)", URL_LENGTH),
    ("I really like http://t.co/pbY2NfTZ's website", 14 + URL_LENGTH + 10),
    ("http://t.co/" + "a" * 40, URL_LENGTH),
    ("http://t.co/" + "a" * 41, 53),  # a t.co slug over 40 is no link
    ("ftp://example.org", 17),  # no ftp links, and a domain right after "/" is none either
    ("http://localhost:8080/x", 23),  # no TLD, no link
    ("user@example.com", 16),  # e-mail addresses are no links
    ("https://" + "a" * 64 + ".com/foo x.com", 80 + 1 + URL_LENGTH),  # label > 63: text
]


@pytest.mark.parametrize(("text", "expected"), X_CASES)
def test_x_weighted_cases(text: str, expected: int) -> None:
    assert count_text(text, "x-weighted") == expected


# twitter-text conformance/tests/extract.yml (v3): urls, urls_with_indices, tco_urls_with_params.
URL_CONFORMANCE = [
    ("http://example.com", ["http://example.com"]),
    ("http://ああ.com", ["http://ああ.com"]),
    ("http://あ-あ.com", ["http://あ-あ.com"]),
    ("text http://foobar.com/#", ["http://foobar.com/#"]),
    (
        "text http://google.com/#search?q=iphone%20-filter%3Alinks",
        ["http://google.com/#search?q=iphone%20-filter%3Alinks"],
    ),
    (
        "text http://somedomain.com/index.php?path=/abc/def/",
        ["http://somedomain.com/index.php?path=/abc/def/"],
    ),
    ("text http://somehost.com:3000", ["http://somehost.com:3000"]),
    ("text http://xo.com/~matthew+%ff-,.;x", ["http://xo.com/~matthew+%ff-,.;x"]),
    ("text http://xo.com/,.;x", ["http://xo.com/,.;x"]),
    (
        "text http://en.wikipedia.org/wiki/Primer_(film)",
        ["http://en.wikipedia.org/wiki/Primer_(film)"],
    ),
    ("text http://✪df.ws/ejp", ["http://✪df.ws/ejp"]),
    ("test http://example.comだよね.comtest/hogehoge", ["http://example.com"]),
    (
        "text http://msdn.microsoft.com/ja-jp/library/system.net.httpwebrequest(v=VS.100).aspx",
        ["http://msdn.microsoft.com/ja-jp/library/system.net.httpwebrequest(v=VS.100).aspx"],
    ),
    (
        "text https://www.youtube.com/watch?v=LOxOAuDHzaw&list=PLPoq910Q9jXhuH6pit_KwIsck9fEz_9U-",
        ["https://www.youtube.com/watch?v=LOxOAuDHzaw&list=PLPoq910Q9jXhuH6pit_KwIsck9fEz_9U-"],
    ),
    ("text http://no-tld", []),
    ("text http://tld-too-short.x", []),
    ("(http://twitter.com", ["http://twitter.com"]),
    (
        "text http://word-and-a-number-8-ftw.domain.com/",
        ["http://word-and-a-number-8-ftw.domain.com/"],
    ),
    ("text http://foo.com?#foo text", ["http://foo.com?#foo"]),
    (
        "foo.com foo.net foo.org foo.edu foo.gov",
        ["foo.com", "foo.net", "foo.org", "foo.edu", "foo.gov"],
    ),
    (
        "foo.baz foo.co.jp www.xxxxxxx.baz www.foo.co.uk wwwww.xxxxxxx foo.comm foo.somecom "
        "foo.govedu foo.jp",
        ["foo.co.jp", "www.foo.co.uk", "foo.jp"],
    ),
    ("t.co/abcde bit.ly/abcde", ["t.co/abcde", "bit.ly/abcde"]),
    ("http://foo.jp http://fooooo.jp", ["http://foo.jp", "http://fooooo.jp"]),
    (
        "Go to http://example.com/a+ or http://example.com/a-",
        ["http://example.com/a+", "http://example.com/a-"],
    ),
    (
        "Go to http://example.com/view/slug-url-?foo=bar",
        ["http://example.com/view/slug-url-?foo=bar"],
    ),
    (
        "Go to https://en.m.wikipedia.org/wiki/Hatfield–McCoy_feud please",
        ["https://en.m.wikipedia.org/wiki/Hatfield–McCoy_feud"],
    ),
    ("@user Try http:// example.com/path", ["example.com/path"]),
    (
        "これは日本語です。example.com/path/index.html中国語example.com/path한국",
        ["example.com/path/index.html", "example.com/path"],
    ),
    (
        "twitter.comこれは日本語です。example.com中国語t.co/abcde한국twitter.com example2.comテスト"
        "twitter.com/abcde",
        [
            "twitter.com",
            "example.com",
            "t.co/abcde",
            "twitter.com",
            "example2.com",
            "twitter.com/abcde",
        ],
    ),
    (
        "http://twitter.com/これは日本語です。example.com中国語http://t.co/abcde한국twitter.comテスト"
        "example2.comテストhttp://twitter.com/abcde",
        [
            "http://twitter.com/",
            "example.com",
            "http://t.co/abcde",
            "twitter.com",
            "example2.com",
            "http://twitter.com/abcde",
        ],
    ),
    ("Go to http://twitter.com/Русские_слова", ["http://twitter.com/Русские_слова"]),
    (
        "http://exampleこれは日本語です.com/path/index.html http://"
        + "あ" * 300
        + ".com/path/index.html",
        ["http://exampleこれは日本語です.com/path/index.html"],
    ),
    (
        "twitter.jp日本語it.so中国語foo.jp it.so foo.jp",
        ["twitter.jp", "it.so", "foo.jp", "it.so", "foo.jp"],
    ),
    ("Hello http://xn--はじめよう.com/index.html", []),
    ("text http://domain-dash_2314352345_dfasd.foo-cow_4352.com", []),
    ("MLB.tv vine.co twitch.tv t.co", ["MLB.tv", "vine.co", "twitch.tv", "t.co"]),
    ("@user Try http://\u00a0example.com/path", ["example.com/path"]),
    ("test http://sub_domain-dash.twitter.com", ["http://sub_domain-dash.twitter.com"]),
    ("test http://a.b.cd", ["http://a.b.cd"]),
    ("test http://a_b.c-d.com", ["http://a_b.c-d.com"]),
    ("test http://a-b.c.com", ["http://a-b.c.com"]),
    ("test http://twitter-dash.com", ["http://twitter-dash.com"]),
    (
        "http://www.bestbuy.com/site/Currie+Technologies+-+Ezip+400+Scooter/9885188.p?"
        "id=1218189013070&skuId=9885188",
        [
            "http://www.bestbuy.com/site/Currie+Technologies+-+Ezip+400+Scooter/9885188.p?"
            "id=1218189013070&skuId=9885188"
        ],
    ),
    ("test http://-leadingdash.twitter.com", []),
    ("test http://leadingdash.-twitter.com", []),
    ("test http://trailingdash-.twitter.com", []),
    ("test http://trailingdash.twitter-.com", []),
    ("test http://_leadingunderscore.twitter.com", []),
    ("test http://leadingunderscore._twitter.com", []),
    ("test http://trailingunderscore_.twitter.com", []),
    ("test http://trailingunderscore.twitter_.com", []),
    ("test http://-twitter.com", []),
    ("test http://twitter-.com", []),
    ("test http://twitter_underscore.com", []),
    ("test http://twitter.c_o_m", []),
    (
        "test http://www.foo.com/foo/path-with-period./",
        ["http://www.foo.com/foo/path-with-period./"],
    ),
    ("test http://www.foo.org.za/foo/bar/688.1", ["http://www.foo.org.za/foo/bar/688.1"]),
    (
        "test http://www.foo.com/bar-path/some.stm?param1=foo;param2=P1|0||P2|0",
        ["http://www.foo.com/bar-path/some.stm?param1=foo;param2=P1|0||P2|0"],
    ),
    ("test http://foo.com/bar/123/foo_&_bar/", ["http://foo.com/bar/123/foo_&_bar/"]),
    ("test http://www.cp.sc.edu/events/65 test", ["http://www.cp.sc.edu/events/65"]),
    (
        "http://www.andersondaradio.no.comunidades.net/ test test",
        ["http://www.andersondaradio.no.comunidades.net/"],
    ),
    ("test ELPAÍS.com", ["ELPAÍS.com"]),
    ("test http://twitter.com/.", ["http://twitter.com/"]),
    ("Test a ton of periods http://example.com/path" + "." * 42, ["http://example.com/path"]),
    ("Test a ton of periods http://example.com/" + "," * 42, ["http://example.com/"]),
    ("Test a ton of periods http://example.com/path/" + "!" * 42, ["http://example.com/path/"]),
    ("#test.com @test.com #http://test.com @http://test.com #t.co/abcde @t.co/abcde", []),
    ("I really like http://t.co/pbY2NfTZ's website", ["http://t.co/pbY2NfTZ"]),
    ("Check this site out http://t.co/FNkPfmii- it's great", ["http://t.co/FNkPfmii"]),
    ("According to http://t.co/ulYGBYSo: the internet is cool", ["http://t.co/ulYGBYSo"]),
    (
        "I really like http://t.co/abcdefghijklmnopqrstuvwxyz0123456789",
        ["http://t.co/abcdefghijklmnopqrstuvwxyz0123456789"],
    ),
    ("I really like http://t.co/abcdefghijklmnopqrstuvwxyz012345678901234", []),
    ("example.comてすとですtwitter.みんなです", ["example.com", "twitter.みんな"]),
    (
        "http://twitter.com\nhttp://example.com\nhttp://example.com/path\nexample.com/path\nit.so\n"
        "it.so/abcde",
        [
            "http://twitter.com",
            "http://example.com",
            "http://example.com/path",
            "example.com/path",
            "it.so",
            "it.so/abcde",
        ],
    ),
    ("$http://twitter.com $twitter.com $http://t.co/abcde $t.co/abcde $t.co $TVI.CA $RBS.CA", []),
    ("long.test.tar.bz2 test.tar.bz2 tar.bz2", []),
    ("john.doe.gov@mail.com", []),
    ("john.doe.jp@mail.com", []),
    (
        "http://www.foo.com?referer=https://t.co/abcde http://t.co/xyzzy",
        ["http://www.foo.com?referer=https://t.co/abcde", "http://t.co/xyzzy"],
    ),
    ("http://t.co http://t.co", ["http://t.co", "http://t.co"]),
    ("test http://xn--ls8h.XN--ls8h.la/", ["http://xn--ls8h.XN--ls8h.la/"]),
    (
        "test http://foobar.みんな/ http://foobar.中国/ http://foobar.پاکستان/ ",
        ["http://foobar.みんな/", "http://foobar.中国/", "http://foobar.پاکستان/"],
    ),
    (
        "\u2066\u202atest abcdef.com پاکستان http://twitter.com/\u202c\u2069",
        ["abcdef.com", "http://twitter.com/"],
    ),
    ("text https://t.co/UqIyJAJTfo?amp=1", ["https://t.co/UqIyJAJTfo?amp=1"]),
    ("text https://t.co/asdfdf?a=b#123", ["https://t.co/asdfdf?a=b#123"]),
    ("text https://t.co/sadfasdf?a=b&c=d", ["https://t.co/sadfasdf?a=b&c=d"]),
]


@pytest.mark.parametrize(("text", "expected"), URL_CONFORMANCE)
def test_find_urls_matches_twitter_text_conformance(text: str, expected: list[str]) -> None:
    assert [span.url for span in find_urls(text)] == expected


URL_INDICES = [  # extract.yml urls_with_indices
    ("皆さん見てください！ http://google.com", [(11, 28)]),
    (
        "http://t.co/pbY2NfTZ's http://t.co/2vYHpAc5; http://t.co/ulYGBYSo: http://t.co/8MkmHU0k+c "
        "http://t.co/TKLp64dY.x http://t.co/8t7G3ddS#a http://t.co/FNkPfmii-",
        [(0, 20), (23, 43), (45, 65), (67, 87), (90, 110), (113, 133), (136, 156)],
    ),
    (
        "twitter.comこれは日本語です。example.com中国語t.co/abcde한국twitter.com example2.comテスト"
        "twitter.com/abcde",
        [(0, 11), (20, 31), (34, 44), (46, 57), (58, 70), (73, 90)],
    ),
    (
        "This is a test \u2066\u202atwitter.com\u202c\u2069 \u2066\u202ahttp://foobar.پاکستان/"
        "\u202c\u2069 قطر فلسطين عمان",
        [(17, 28), (33, 55)],
    ),
]


@pytest.mark.parametrize(("text", "expected"), URL_INDICES)
def test_find_urls_gives_indices_into_the_text(text: str, expected: list[tuple[int, int]]) -> None:
    spans = find_urls(text)
    assert [(s.start, s.end) for s in spans] == expected
    assert all(text[s.start : s.end] == s.url for s in spans)


def test_hyphen_after_tld_follows_twitter_text_code_not_its_newest_yaml() -> None:
    # The v3 JS and Ruby regexes refuse a TLD followed by "-"; only the Rust grammar (and the
    # newest extract.yml) cut "domain.com" out of it. We follow the code X's composer runs.
    assert find_urls("text http://domain.com-that-you-should-have-put-a-space-after") == []


# --- Mastodon -------------------------------------------------------------------------------

MASTODON_CASES = [
    ("", 0),
    ("   \n ", 0),  # blank counts nothing
    ("Hello world", 11),
    ("hi @alice@example.social and @bob", 18),  # counted as "hi @alice and @bob"
    ("@alice@mastodon.example.org.", 7),  # the sentence's period stays
    ("cc @Alice_99@sub.example.co.uk!", 13),
    ("mail me: alice@example.com", 26),  # no mention inside a word
    ("@alice@example.social@more", 26),  # "@" right after: no mention
    ("https://example.com/" + "a" * 200, URL_LENGTH),
    ("see https://example.com/a/very/long/path?x=1 now", 4 + URL_LENGTH + 4),
    ("example.com without scheme counts as text", 41),
    ("gemini://example.org/page", URL_LENGTH),
    ("ftp://example.org/file", 22),
    ("https://mastodon.social/@alice@example.org", URL_LENGTH),  # the URL wins
    ("(https://example.com/x).", 1 + URL_LENGTH + 2),
    (FAMILY + " family", 8),  # one grapheme cluster
    ("\U0001f1e9\U0001f1ea\U0001f1eb\U0001f1f7", 2),
    ("e\u0301", 1),
    ("a\r\nb", 3),
    ("日本語のテキスト", 8),
]


@pytest.mark.parametrize(("text", "expected"), MASTODON_CASES)
def test_mastodon_counting(text: str, expected: int) -> None:
    assert count_text(text, "mastodon") == expected


def test_mastodon_urls_need_a_scheme() -> None:
    spans = find_urls("a.com https://b.com", flavour="mastodon")
    assert [s.url for s in spans] == ["https://b.com"]


def test_mastodon_path_takes_unicode_but_not_trailing_punctuation() -> None:
    text = "Lies https://de.wikipedia.org/wiki/Käsekuchen, dann https://example.com/a?q=ü!"
    assert [s.url for s in find_urls(text, flavour="mastodon")] == [
        "https://de.wikipedia.org/wiki/Käsekuchen",
        "https://example.com/a?q=ü",
    ]


# --- graphemes and code points --------------------------------------------------------------

GRAPHEME_CASES = [
    ("", 0),
    ("Bluesky", 7),
    (FAMILY, 1),
    ("\U0001f1e9\U0001f1ea\U0001f1eb\U0001f1f7", 2),
    ("\U0001f44d\U0001f3ff", 1),
    ("#\ufe0f\u20e3", 1),
    ("e\u0301", 1),
    ("Z\u0351\u036b", 1),
    ("한국어", 3),
    ("\u1100\u1161\u11a8", 1),  # conjoining jamo form one syllable
    ("a\r\nb", 3),
    ("\r\n\r\n", 2),
    ("https://example.com/" + "a" * 50, 70),  # no URL discount on Bluesky
]


@pytest.mark.parametrize(("text", "expected"), GRAPHEME_CASES)
def test_grapheme_counting(text: str, expected: int) -> None:
    assert count_text(text, "graphemes") == expected


@pytest.mark.parametrize("text", ["", "LinkedIn", FAMILY, "e\u0301", "日本語", "a\r\nb"])
def test_chars_counts_code_points(text: str) -> None:
    assert count_text(text, "chars") == len(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Werkbank", 8),
        ("Grüße", 5),  # letters count 1 whatever their bytes
        ("\U0001f600", 4),  # 😀: 4 UTF-8 bytes
        ("Holz \U0001f44d\U0001f3fd", 5 + 8),  # 👍🏽: a skin tone is part of the emoji
        ("\u2764\ufe0f", 6),  # ❤️: a heart asked to look like emoji, 3 + 3 bytes
        (FAMILY, len(FAMILY.encode())),  # a ZWJ sequence counts all its bytes
    ],
)
def test_threads_counts_emoji_as_their_utf8_bytes(text: str, expected: int) -> None:
    assert count_text(text, "threads") == expected


def test_every_platform_counting_is_known() -> None:
    assert {described.rules.counting for described in registry().values()} <= set(COUNTINGS)
    assert set(COUNTINGS) == {"chars", "graphemes", "x-weighted", "mastodon", "threads"}


def test_unknown_counting_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown text counting 'bytes'.*x-weighted"):
        count_text("hi", "bytes")  # type: ignore[arg-type]


def test_public_names() -> None:
    assert sorted(counting.__all__) == [
        "COUNTINGS",
        "URL_LENGTH",
        "UrlFlavour",
        "UrlSpan",
        "count_text",
        "find_urls",
    ]


@pytest.mark.parametrize("kind", COUNTINGS)
def test_lone_surrogates_and_controls_do_not_raise(kind: str) -> None:
    assert count_text("a\ud800b\x00\ufffe http://\udfff.com", kind) > 0  # type: ignore[arg-type]


# --- properties -----------------------------------------------------------------------------

# Fragments that steer random text into URLs, mentions, emoji sequences and combining marks.
FRAGMENTS = [
    "http://",
    "https://",
    "gemini://",
    ".",
    "com",
    "co",
    "jp",
    "みんな",
    "xn--",
    "t.co/",
    "/",
    "?",
    "#",
    "(",
    ")",
    "-",
    "_",
    "@",
    "alice",
    "a",
    "é",
    "中",
    " ",
    "\n",
    "\u200d",
    "\ufe0f",
    "\u20e3",
    "\U0001f468",
    "\U0001f3fd",
    "\U0001f1e9",
    "\u0301",
    "\u00a9",
    ":",
    "!",
    "'",
]
texts = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(FRAGMENTS), max_size=60).map("".join),
)


@settings(max_examples=300, deadline=None)
@given(text=texts)
def test_counts_never_raise_and_are_sane(text: str) -> None:
    counts = {kind: count_text(text, kind) for kind in COUNTINGS}
    assert all(isinstance(n, int) and n >= 0 for n in counts.values())
    assert counts["chars"] == len(text)
    assert counts["graphemes"] <= counts["chars"] <= counts["threads"]
    assert counts["threads"] <= len(text.encode("utf-8", "surrogatepass"))
    if not text.strip():
        assert counts["mastodon"] == 0
    elif not {".", ":", "@"} & set(text):  # nothing to discount: Mastodon counts graphemes
        assert counts["mastodon"] == counts["graphemes"]


@settings(max_examples=300, deadline=None)
@given(text=texts, more=texts)
def test_appending_after_a_space_never_shrinks_a_count(text: str, more: str) -> None:
    longer = text + " " + more
    for kind in COUNTINGS:
        assert count_text(longer, kind) >= count_text(text, kind)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(text=texts, more=texts)
def test_appending_never_shrinks_code_points_or_graphemes(text: str, more: str) -> None:
    for kind in ("chars", "graphemes"):
        assert count_text(text + more, kind) >= count_text(text, kind)


def test_appending_right_after_a_word_can_make_it_a_shorter_link() -> None:
    # Why the property above appends after a space: ".com" turns 26 letters into one URL.
    word = "abcdefghijklmnopqrstuvwxyz"
    assert count_text(word, "x-weighted") == 26
    assert count_text(word + ".com", "x-weighted") == URL_LENGTH


# --- speed on hostile input -----------------------------------------------------------------

HOSTILE = [
    "a." * 1500 + "com",  # a long chain of labels
    "http://example.com/path" + "." * 3000,  # a runaway regex classic
    "http://example.com/" + "(" * 2000,
    "http://" + "a_" * 1500 + ".com",
    "故" * 2000 + ".com",
    "@a@b.c" * 500,
    FAMILY * 500,
]


def test_hostile_input_is_counted_in_bounded_time() -> None:
    start = time.perf_counter()
    for text in HOSTILE:
        for kind in COUNTINGS:
            count_text(text, kind)
    assert time.perf_counter() - start < 5.0  # about 0.3 s on a 2-core machine
