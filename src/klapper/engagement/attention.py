"""Which replies need attention first: complaints and questions, by simple rules (de and en).

The rules, in order (the first that matches wins, so a complaining question is a complaint):

1. complaint: the text contains one of ``COMPLAINT_TERMS`` (case-insensitive, whole words;
   a term ending in ``*`` also matches longer words: ``enttäusch*`` finds "enttäuscht").
2. question: the text contains ``?``, or its first word (after @mentions) is one of
   ``QUESTION_WORDS`` and it does not end in ``!`` ("Was für ein Tag!" is no question).

A review of ``LOW_RATING`` stars or fewer is a complaint whatever its words (criticism on a
review site is public: it comes first). Nothing else is guessed: no sentiment model, no
language detection; both lists hold German and English and are meant to be read and extended.
"""

from __future__ import annotations

import re
from typing import Literal

Attention = Literal["complaint", "question"]

QUESTION_WORDS = frozenset(
    {
        # English
        "who",
        "what",
        "why",
        "how",
        "when",
        "where",
        "which",
        "can",
        "could",
        "would",
        "will",
        "is",
        "are",
        "do",
        "does",
        "did",
        "should",
        "any",
        "anyone",
        # German
        "wer",
        "was",
        "warum",
        "wieso",
        "weshalb",
        "wie",
        "wann",
        "wo",
        "woher",
        "wohin",
        "welche",
        "welcher",
        "welches",
        "kann",
        "können",
        "könnt",
        "ist",
        "sind",
        "gibt",
        "habt",
        "hast",
        "hat",
        "seid",
        "muss",
        "darf",
        "geht",
    }
)

COMPLAINT_TERMS: tuple[str, ...] = (
    # English
    "not working",
    "doesn't work",
    "does not work",
    "didn't work",
    "stopped working",
    "broken",
    "refund*",
    "disappoint*",
    "terrible",
    "awful",
    "worst",
    "scam",
    "scams",
    "scammed",
    "scammer*",
    "never again",
    "angry",
    "unacceptable",
    "complain*",
    "rip-off",
    "ripoff",
    "useless",
    "still waiting",
    "no response",
    "no answer",
    "waste of money",
    "fraud",
    # German
    "kaputt*",
    "funktioniert nicht",
    "funktioniert immer noch nicht",
    "geht nicht",
    "enttäusch*",
    "schlecht*",
    "schlimm*",
    "betrug*",
    "betrüger*",
    "nie wieder",
    "frechheit",
    "beschwerde*",
    "rückerstattung",
    "geld zurück",
    "unverschämt*",
    "ärgerlich",
    "katastroph*",
    "mangelhaft",
    "reklamation",
    "warte immer noch",
    "keine antwort",
    "abzocke",
)


def _pattern(term: str) -> str:
    stem = term.rstrip("*")
    body = r"\s+".join(re.escape(word) for word in stem.split())
    return body + (r"\w*" if term.endswith("*") else r"\b")


_COMPLAINT = re.compile(
    r"(?<!\w)(?:" + "|".join(_pattern(t) for t in COMPLAINT_TERMS) + ")", re.IGNORECASE
)
_LEADING = re.compile(r"^(?:\s*[@.][\w.@-]+[:,]?)*[\s\W]*")  # @mentions, punctuation
_FIRST_WORD = re.compile(r"\w+")


#: a review with this many stars or fewer needs attention
LOW_RATING = 3


def attention(text: str, *, rating: int | None = None) -> Attention | None:
    """``complaint``, ``question`` or None for one reply's text and a review's ``rating``."""
    if rating is not None and rating <= LOW_RATING:
        return "complaint"
    plain = text.replace("\u2019", "'")
    if _COMPLAINT.search(plain):
        return "complaint"
    if "?" in plain or "\uff1f" in plain:
        return "question"
    first = _FIRST_WORD.match(_LEADING.sub("", plain, count=1))
    exclaimed = plain.rstrip().endswith("!")
    if first and first.group(0).casefold() in QUESTION_WORDS and not exclaimed:
        return "question"
    return None
