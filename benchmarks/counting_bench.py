"""Counting benchmark: how many posts per second count_text measures, per platform counting.

Run: .venv/bin/python benchmarks/counting_bench.py [--posts 10000] [--repeat 5]

Generates --posts realistic post texts (seeded: plain prose, links with and without scheme,
accents, emoji sequences, CJK, Mastodon mentions), then prints for each counting the best of
--repeat passes over all of them, the pass that counts every post for all four countings (the
`klapper check` case of one post going to four accounts), and the one-off cost of the first
call (the URL regexes compile on first use). Times are CPU seconds of this process, so that
other work on a shared machine does not blur them. Figures only: it never fails on speed.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from klapper.adapters.counting import COUNTINGS, count_text

WORDS = [
    "our",
    "advent",
    "sale",
    "starts",
    "today",
    "with",
    "twenty",
    "percent",
    "off",
    "all",
    "workshops",
    "and",
    "the",
    "new",
    "oak",
    "bench",
    "is",
    "ready",
    "for",
    "pickup",
    "at",
    "the",
    "shop",
    "this",
    "friday",
    "between",
    "nine",
    "and",
    "five",
]
LINKS = [
    "https://example.com/advent",
    "https://shop.example.co.uk/products/oak-bench?colour=natural&size=large",
    "http://t.co/pbY2NfTZ",
    "example.org/workshops",
    "www.tischlerei-beispiel.de/kurse/2026",
]
EXTRAS = [
    "Grüße aus der Werkstatt, schöne Späne!",
    "Café crème et pâtisserie à côté.",
    "\U0001f384\U0001f381 \U0001f44d\U0001f3fd \U0001f1e9\U0001f1ea "
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "木工教室は土曜日に開催します。ご予約はお早めに。",
    "thanks @alice@mastodon.example and @bob@social.example.org!",
    "#woodworking #handmade",
]


def _post(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(12, 40))
    for _ in range(rng.choice((0, 0, 1, 1, 2))):
        words.insert(rng.randrange(len(words) + 1), rng.choice(LINKS))
    if rng.random() < 0.5:
        words.append(rng.choice(EXTRAS))
    return " ".join(words).capitalize()


_clock = time.process_time


def _best(func: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = _clock()
        func()
        best = min(best, _clock() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    rng = random.Random(20261201)
    posts = [_post(rng) for _ in range(args.posts)]
    chars = sum(len(p) for p in posts)
    print(f"{len(posts)} posts, {chars / len(posts):.0f} characters on average")

    start = _clock()
    for kind in COUNTINGS:
        count_text(posts[0], kind)
    print(f"first call of each counting (compiles the regexes): {_clock() - start:.3f} s")

    for kind in COUNTINGS:
        seconds = _best(lambda kind=kind: [count_text(p, kind) for p in posts], args.repeat)
        print(f"{kind:>11}: {seconds:.3f} s, {len(posts) / seconds:>9,.0f} posts/s")
    seconds = _best(lambda: [count_text(p, k) for p in posts for k in COUNTINGS], args.repeat)
    print(
        f"all four per post: {seconds:.3f} s for {len(posts)} posts x 4 accounts, "
        f"{len(posts) / seconds:,.0f} posts/s"
    )


if __name__ == "__main__":
    main()
