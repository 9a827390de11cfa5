"""Text length as each platform counts it: X's weighted length, Mastodon's, graphemes, code points.

``count_text(text, counting)`` is what `klapper check` compares with ``Rules.text_limit``:

- ``"x-weighted"``: twitter-text v3 ``parseTweet().weightedLength``. The text is NFC-normalised;
  every URL (with or without scheme, found as twitter-text finds it) counts 23; every emoji
  sequence (ZWJ sequences, flags, skin tones, keycaps, tag flags) counts 2; any other code point
  counts 1 inside the light ranges (U+0000-10FF, 2000-200D, 2010-201F, 2032-2037), else 2.
- ``"mastodon"``: Mastodon's ``StatusLengthValidator``: every URL with a scheme counts 23, a
  mention ``@user@domain`` counts as ``@user``, and the result is measured in grapheme clusters
  (``mb_chars.grapheme_length`` in Mastodon 4; a text of only whitespace counts 0). Mastodon adds
  the content warning's length to the text's: count it separately and add.
- ``"threads"``: code points, except that an emoji sequence counts its UTF-8 bytes (Meta's
  Threads posts: "Emojis are counted as the number of UTF-8 bytes"; 😀 counts 4).
- ``"graphemes"``: extended grapheme clusters (Bluesky's 300).
- ``"chars"``: code points (LinkedIn, the outbox).

URL detection follows twitter-text's regexes (js/src/regexp, Apache-2.0) and Mastodon's
overrides of them (config/initializers/twitter_regex.rb), re-expressed here.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from typing import Literal, NamedTuple, get_args

import regex

from klapper.adapters.base import Counting
from klapper.adapters.tlds import COUNTRY_TLDS, GENERIC_TLDS

__all__ = ["COUNTINGS", "URL_LENGTH", "UrlFlavour", "UrlSpan", "count_text", "find_urls"]

#: every way of counting there is, in the order adapters.base declares them
COUNTINGS: tuple[Counting, ...] = get_args(Counting)
#: what a URL counts on X (t.co's transformedURLLength) and on Mastodon (URL_PLACEHOLDER_CHARS)
URL_LENGTH = 23

UrlFlavour = Literal["x", "mastodon"]


class UrlSpan(NamedTuple):
    """A URL found in a text: ``text[start:end] == url``."""

    start: int
    end: int
    url: str


# --- URL detection (twitter-text) -------------------------------------------------------------

_MAX_URL_LENGTH = 4096  # the longest URL twitter-text accepts, scheme included
_MAX_TCO_SLUG_LENGTH = 40
_MAX_LABEL_LENGTH = 63  # a DNS label, after punycode encoding
_DEFAULT_SCHEME_LENGTH = len("https://")  # what X adds to a URL typed without one

_INVALID_CHARS = "\ufffe\ufeff\uffff"
_DIRECTIONAL = "\u202a-\u202e\u061c\u200e\u200f\u2066-\u2069"
_SPACES = "\t-\r \x85\xa0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_PUNCT_OUTSIDE_LABELS = r"!'#%&()*+,\\./:;<=>?@\[\]^{|}~$"
_PUNCT = _PUNCT_OUTSIDE_LABELS + r"\-_"
_LATIN_ACCENTS = (
    "\xc0-\xd6\xd8-\xf6\xf8-\xff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259\u025b\u0263\u0268"
    "\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
_CYRILLIC = "\u0400-\u04ff"


def _trie(words: list[str]) -> str:
    """An alternation of ``words`` as a prefix tree: a miss costs a step, not one per word."""
    if words == [""]:
        return ""
    groups: dict[str, list[str]] = {}
    for word in sorted(set(words), key=lambda w: (w[:1], -len(w))):
        groups.setdefault(word[:1], []).append(word[1:])
    branches = [re.escape(head) + _trie(tails) if head else "" for head, tails in groups.items()]
    # Longer branches first, and the empty one last, so "com" is tried before "co".
    branches.sort(key=lambda b: b == "")
    return f"(?:{'|'.join(branches)})"


def _tld_group(tlds: tuple[str, ...]) -> str:
    # The lookahead ends the label: "com" in "example.community" is no TLD.
    return rf"(?:{_trie(list(tlds))}(?=[^0-9a-z@+-]|$))"


_PRECEDING = rf"(?:[^a-z0-9@＠$#＃{_INVALID_CHARS}]|[{_DIRECTIONAL}]|^)"
_DOMAIN_CHAR = rf"[^{_PUNCT}{_SPACES}{_INVALID_CHARS}]"
# twitter-text lets labels run on and rejects a match only after it (IDNA: at most 63 chars a
# label); bounding them here, and a name to 127 labels, keeps the search linear on any input.
_SUBDOMAIN = rf"(?>(?:{_DOMAIN_CHAR}(?:[_-]|{_DOMAIN_CHAR}){{0,61}})?{_DOMAIN_CHAR}\.)"
_DOMAIN_NAME = rf"(?:(?:{_DOMAIN_CHAR}(?:-|{_DOMAIN_CHAR}){{0,61}})?{_DOMAIN_CHAR}\.)"
_GTLD = _tld_group(GENERIC_TLDS)
_CCTLD = _tld_group(COUNTRY_TLDS)
_PUNYCODE = r"(?:xn--[-0-9a-z]+)"
# The first label ends in "." within 63 characters: looking for it first rejects most words
# with one cheap scan.
_DOTTED_AHEAD = rf"(?=[^{_PUNCT_OUTSIDE_LABELS}{_SPACES}{_INVALID_CHARS}]{{0,63}}+\.)"
_DOMAIN = rf"(?:{_DOTTED_AHEAD}{_SUBDOMAIN}{{0,126}}{_DOMAIN_NAME}(?:{_GTLD}|{_CCTLD}|{_PUNYCODE}))"
_PORT = r"[0-9]++"


def _path(char: str, ending: str) -> str:
    """A URL path: ``char``s, up to two levels of balanced parens, ending on ``ending``."""
    parens = rf"\((?:{char}+|(?:{char}*\({char}+\){char}*))\)"
    return rf"(?:(?:{char}*(?:{parens}{char}*)*(?:{ending}|{parens}))|(?:@{char}+/))"


_X_PATH = _path(
    rf"[a-z{_CYRILLIC}0-9!*';:=+,.$/%#\[\]\-\u2013_~@|&{_LATIN_ACCENTS}]",
    rf"[+\-a-z{_CYRILLIC}0-9=_#/{_LATIN_ACCENTS}]",
)
_X_QUERY = r"[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]*[a-z0-9\-_&=#/]"

# Mastodon widens paths and queries to most of Unicode and knows a few more schemes.
_WHITE_SPACE = _SPACES.replace("\u180e", "")
_UCHARS = (
    "\xa0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef\ue000-\uf8ff"
    + "".join(f"{chr(p << 16)}-{chr((p << 16) | 0xFFFD)}" for p in range(1, 14))
    + "\U000e1000-\U000efffd\U000f0000-\U000ffffd\U00100000-\U0010fffd"
)
_M_PATH = _path(
    rf"[^{_WHITE_SPACE}<>()?]",
    rf"[^{_WHITE_SPACE}()?!*\"'「」<>;:=,.$%\[\]~&|@]",
)
_M_QUERY = rf"[a-z0-9!?*'();:&=+$/%#\[\]\-_.,~|@^{_UCHARS}]*[a-z0-9_&=#/\-{_UCHARS}]"


def _url_pattern(*, scheme: str, path: str, query: str) -> str:
    return (
        rf"(?P<before>{_PRECEDING})"
        rf"(?P<url>(?P<scheme>{scheme})(?P<domain>{_DOMAIN})(?::{_PORT})?"
        rf"(?P<path>/{path}*+)?(?:\?{query})?)"
    )


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    """Compile once, on first use: the TLD alternations take tens of milliseconds each."""
    return re.compile(pattern, re.IGNORECASE)


_URL: dict[UrlFlavour, str] = {
    "x": _url_pattern(scheme=r"(?:https?://)?", path=_X_PATH, query=_X_QUERY),
    "mastodon": _url_pattern(
        scheme=r"(?:https?|dat|dweb|ipfs|ipns|ssb|gopher|gemini)://",
        path=_M_PATH,
        query=_M_QUERY,
    ),
}
# A URL's domain ends in ".tld": without one in the text, X's search for URLs can stop at once.
_TLD_HINT = rf"\.(?:{_GTLD}|{_CCTLD}|xn--)"
_TCO = r"^https?://t\.co/([a-z0-9]+)(?:\?" + _X_QUERY + ")?"
_ASCII_DOMAIN = rf"(?:[\-a-z0-9{_LATIN_ACCENTS}]+\.)+(?:{_GTLD}|{_CCTLD}|{_PUNYCODE})"
_NO_SCHEME_BAD_BEFORE = frozenset("-_./")
_LABEL_SEPARATORS = re.compile("[.\u3002\uff0e\uff61]")  # IDNA's full stops


def _host_fits(domain: str, url_length: int, has_scheme: bool) -> bool:
    """IDNA check of twitter-text: labels of 1-63 chars once punycoded, URL at most 4096."""
    if domain[:4].lower() == "xn--" and not domain.isascii():
        return False
    encoded = 0
    for label in _LABEL_SEPARATORS.split(domain):
        try:
            size = len(label) if label.isascii() else 4 + len(label.encode("punycode"))
        except UnicodeError:
            return False
        if not 1 <= size <= _MAX_LABEL_LENGTH:
            return False
        encoded += size + 1
    url_length += encoded - 1 - len(domain)
    return url_length + (0 if has_scheme else _DEFAULT_SCHEME_LENGTH) <= _MAX_URL_LENGTH


def _schemeless(match: re.Match[str]) -> list[UrlSpan]:
    """URLs typed without a scheme: only their ASCII domains count (twitter-text's rule)."""
    if match.group("before")[-1:] in _NO_SCHEME_BAD_BEFORE:
        return []
    domain, path = match.group("domain"), match.group("path")
    offset = match.start("domain")
    found: list[UrlSpan] = []
    for part in _compiled(_ASCII_DOMAIN).finditer(domain):
        found.append(UrlSpan(offset + part.start(), offset + part.end(), part.group()))
    if path and found:  # the path (and query) belong to the last domain
        start, end = found[-1].start, match.end("url")
        found[-1] = UrlSpan(start, end, match.string[start:end])
    return found


def find_urls(text: str, *, flavour: UrlFlavour = "x") -> list[UrlSpan]:
    """The URLs in ``text`` as X (with or without scheme) or Mastodon (scheme only) finds them."""
    # Most texts have no dot (X) or colon (Mastodon), and then no URL.
    if flavour == "x" and ("." not in text or not _compiled(_TLD_HINT).search(text)):
        return []
    if flavour == "mastodon" and ":" not in text:
        return []
    found: list[UrlSpan] = []
    for match in _compiled(_URL[flavour]).finditer(text):
        url, start, end = match.group("url"), match.start("url"), match.end("url")
        if not _host_fits(match.group("domain"), len(url), bool(match.group("scheme"))):
            continue
        if not match.group("scheme"):
            found.extend(_schemeless(match))
            continue
        tco = _compiled(_TCO).match(url)
        if tco:  # t.co links end after the slug (and its query); a slug over 40 is no link
            if len(tco.group(1)) > _MAX_TCO_SLUG_LENGTH:
                continue
            url, end = tco.group(), start + tco.end()
        found.append(UrlSpan(start, end, url))
    return found


# --- emoji and weights (X) ------------------------------------------------------------------

_MODIFIER = "[\U0001f3fb-\U0001f3ff]"
_TAG_SEQUENCE = "[\U000e0020-\U000e007e]+\U000e007f"
_PICTOGRAPH = r"[\p{Extended_Pictographic}\p{Emoji_Presentation}]"
_EMOJI_ELEMENT = (
    "(?:[\U0001f1e6-\U0001f1ff]{2}"  # a flag: two regional indicators
    "|[#*0-9]\ufe0f?\u20e3"  # a keycap
    rf"|{_PICTOGRAPH}(?:{_MODIFIER}|{_TAG_SEQUENCE})?\ufe0f?"
    r"|(?![\x00-\x7f])\p{Emoji}\ufe0f)"  # a text-style symbol asked to look like emoji
)
_HEAVY = "[^\x00-\u10ff\u2000-\u200d\u2010-\u201f\u2032-\u2037]"
# One pass over text between URLs: an emoji sequence (ZWJ-joined elements) or a heavy code point.
_X_SCAN = regex.compile(rf"{_EMOJI_ELEMENT}(?:\u200d{_EMOJI_ELEMENT})*|{_HEAVY}")


_EMOJI_SCAN = regex.compile(rf"{_EMOJI_ELEMENT}(?:\u200d{_EMOJI_ELEMENT})*")


def _threads(text: str) -> int:
    """Code points, an emoji sequence counting as many as its UTF-8 bytes."""
    total = len(text)
    if text.isascii():
        return total
    for match in _EMOJI_SCAN.finditer(text):
        found = match.group()
        total += len(found.encode("utf-8", "surrogatepass")) - len(found)
    return total


def _is_light(char: str) -> bool:
    code = ord(char)
    return (
        code <= 0x10FF
        or 0x2000 <= code <= 0x200D
        or 0x2010 <= code <= 0x201F
        or 0x2032 <= code <= 0x2037
    )


def _x_plain(text: str) -> int:
    """Weighted length of text without URLs: light code points 1, heavy ones and emoji 2."""
    total = len(text)
    if text.isascii():
        return total
    for match in _X_SCAN.finditer(text):
        found = match.group()
        if len(found) > 1:
            total += 2 - len(found)  # a sequence of any length counts 2
        elif not _is_light(found):
            total += 1  # a lone ©, counted 1 above, is no emoji on X
    return total


def _x_weighted(text: str) -> int:
    text = unicodedata.normalize("NFC", text)
    total, pos = 0, 0
    for span in find_urls(text, flavour="x"):
        total += _x_plain(text[pos : span.start]) + URL_LENGTH
        pos = span.end
    return total + _x_plain(text[pos:])


# --- Mastodon -------------------------------------------------------------------------------

# Account::MENTION_RE; [[:word:]] is \w. The match must not go on into "@", accents or "://".
_MENTION_RE = re.compile(
    r"(?<![=/\w])@(?P<user>[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)(?P<domain>@\w+(?:[.-]+\w+)*)?",
    re.IGNORECASE,
)
_MENTION_BAD_AFTER = re.compile(rf"[@＠{_LATIN_ACCENTS}]|://")
_URL_PLACEHOLDER = "x" * URL_LENGTH


def _mastodon(text: str) -> int:
    if not text or text.isspace():
        return 0  # Mastodon counts a blank text as empty
    if ":" not in text and "@" not in text:
        return _graphemes(text)
    # (start, end, replacement) for every URL and remote mention; overlaps go to the first.
    entities = [(s.start, s.end, _URL_PLACEHOLDER) for s in find_urls(text, flavour="mastodon")]
    for match in _MENTION_RE.finditer(text):
        if match.group("domain") and not _MENTION_BAD_AFTER.match(text, match.end()):
            entities.append((match.start(), match.end(), "@" + match.group("user")))
    pieces: list[str] = []
    pos = 0
    for start, end, replacement in sorted(entities):
        if start < pos:
            continue
        pieces += (text[pos:start], replacement)
        pos = end
    pieces.append(text[pos:])
    return _graphemes("".join(pieces))


# --- graphemes, code points, and the table ----------------------------------------------------

_GRAPHEME = regex.compile(r"\X")


def _graphemes(text: str) -> int:
    if text.isascii():
        return len(text) - text.count("\r\n")  # in ASCII only CR LF forms a cluster of two
    return len(_GRAPHEME.findall(text))


_COUNTERS: dict[Counting, Callable[[str], int]] = {
    "chars": len,
    "graphemes": _graphemes,
    "x-weighted": _x_weighted,
    "mastodon": _mastodon,
    "threads": _threads,
}


def count_text(text: str, counting: Counting) -> int:
    """The length of ``text`` as the platforms counting by ``counting`` see it (module doc)."""
    try:
        counter = _COUNTERS[counting]
    except KeyError:
        raise ValueError(
            f"unknown text counting {counting!r}; use one of: {', '.join(COUNTINGS)}"
        ) from None
    return counter(text)
