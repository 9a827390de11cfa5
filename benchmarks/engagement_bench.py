"""Engagement cost: API requests for one polling round over N published posts per platform.

Run: .venv/bin/python benchmarks/engagement_bench.py [--posts 1000]

For each platform, N published deliveries (1 h old, so their first reading is due) are read in
one round by the real adapter against its fake server on 127.0.0.1 (Bluesky: the local PDS
with Bluesky's AppView, its PostgreSQL and Redis, when .ci/pds-setup installed them). Requests
are counted at the servers and set against the least the platform's batch size allows
(ceil(N / batch)). ``--platform NAME`` (repeatable) runs only those.
Figures only: it never fails.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' fake servers

from klapper.adapters.base import Adapter
from klapper.config.platforms import platform as describe
from tests.engagement.helpers import World, bulk_published, config_for


@dataclass
class Result:
    platform: str
    posts: int
    requests: int  # reaction lookups counted at the server
    other: int  # everything else the adapter asked in that round (sign-in, instance limits)
    readings: int
    seconds: float

    @property
    def least(self) -> int:
        return math.ceil(self.posts / describe(self.platform).lookup_batch)


def _round(
    platform: str,
    adapter: Adapter,
    remote_ids: list[str],
    *,
    count: Callable[[], tuple[int, int]],
    **settings: str,
) -> Result:
    with tempfile.TemporaryDirectory() as folder:
        account = {"platform": platform, **settings}
        world = World(
            state=Path(folder),
            config=config_for({"acct": account}, budget=10_000),
            adapters=lambda name: adapter,
        )
        hour_ago = world.clock.now - timedelta(hours=1)
        bulk_published(
            world.ledger,
            [(f"p{n}", "acct", platform, rid, hour_ago) for n, rid in enumerate(remote_ids)],
        )
        before = count()
        start = time.perf_counter()
        report = world.poller.run_round(inbox=False)
        seconds = time.perf_counter() - start
        after = count()
        world.close()
    return Result(
        platform,
        len(remote_ids),
        after[0] - before[0],
        after[1] - before[1],
        len(report.readings),
        seconds,
    )


def mastodon(posts: int, tmp: Path) -> Result:
    from klapper.adapters.mastodon.adapter import MastodonAdapter
    from tests.fakes.mastodon import FakeMastodon

    with FakeMastodon() as server:
        ids = [server.state.add_status(text=f"post {n}")["id"] for n in range(posts)]
        adapter = MastodonAdapter(
            name="acct",
            settings={"instance": server.url, "cache_dir": str(tmp)},
            secrets={"access_token": server.state.token},
            repo=tmp,
        )

        def count() -> tuple[int, int]:
            lookups = server.state.count("GET", "/api/v1/statuses")
            return lookups, len(server.state.requests) - lookups

        try:
            return _round("mastodon", adapter, ids, count=count)
        finally:
            adapter.close()


def x(posts: int, tmp: Path) -> Result:
    from tests.fakes.x import ME_ID, adapter_case

    with adapter_case(tmp, timeout=10) as case:
        ids = [case.fake.add_tweet(author_id=ME_ID, text=f"post {n}") for n in range(posts)]

        def count() -> tuple[int, int]:
            lookups = case.fake.count("lookup")
            return lookups, len(case.fake.requests) - lookups

        return _round("x", case.adapter, ids, count=count)


def linkedin(posts: int, tmp: Path) -> Result:
    from tests.fakes.linkedin import PERSON, FakeLinkedIn, insecure_transport_allowed, make_adapter

    fake = FakeLinkedIn()
    with insecure_transport_allowed(), fake.serve():
        ids = []
        for n in range(posts):
            urn = f"urn:li:share:{7_100_000_000_000_000_000 + n}"
            fake.posts[urn] = {
                "id": urn,
                "author": PERSON,
                "commentary": f"post {n}",
                "createdAt": int(time.time() * 1000),
            }
            fake.reactions[urn] = {"LIKE": n % 5}
            ids.append(urn)
        adapter = make_adapter(fake, tmp, timeout=10)

        def count() -> tuple[int, int]:
            lookups = len(fake.calls("/rest/socialMetadata"))
            return lookups, len(fake.requests) - lookups

        try:
            return _round("linkedin", adapter, ids, count=count)
        finally:
            adapter.close()


def facebook(posts: int, tmp: Path) -> Result:
    from tests.fakes.facebook import FakeFacebook, make_adapter

    fake = FakeFacebook()
    with fake.serve():
        ids = [fake.add_post(f"post {n}", reactions=n % 5) for n in range(posts)]
        adapter = make_adapter(fake, tmp, timeout=10)

        def count() -> tuple[int, int]:
            lookups = len(fake.calls(""))  # GET /?ids=
            return lookups, len(fake.requests) - lookups

        try:
            return _round("facebook", adapter, ids, count=count, page=fake.page)
        finally:
            adapter.close()


def instagram(posts: int, tmp: Path) -> Result:
    from tests.fakes.instagram import FakeInstagram, make_adapter

    fake = FakeInstagram()
    with fake.serve():
        ids = [fake.add_media(f"post {n}") for n in range(posts)]
        for n, media_id in enumerate(ids):
            fake.media[media_id]["likes"] = n % 5
        adapter = make_adapter(fake, tmp, media_url="https://example.com/media", timeout=10)

        def count() -> tuple[int, int]:
            lookups = len(fake.calls(""))  # GET /?ids=
            return lookups, len(fake.requests) - lookups

        try:
            return _round(
                "instagram",
                adapter,
                ids,
                count=count,
                user=fake.ig_user,
                media_url="https://example.com/media",
            )
        finally:
            adapter.close()


def threads(posts: int, tmp: Path) -> Result:
    from tests.fakes.threads import FakeThreads, make_adapter

    fake = FakeThreads()
    with fake.serve():
        ids = [fake.add_post(f"post {n}") for n in range(posts)]
        adapter = make_adapter(fake, tmp, timeout=10)

        def count() -> tuple[int, int]:
            lookups = len(fake.calls(r"\d+/insights"))
            return lookups, len(fake.requests) - lookups

        try:
            return _round("threads", adapter, ids, count=count, media_url="https://m.example")
        finally:
            adapter.close()


def bluesky(posts: int, tmp: Path) -> Result | None:
    from tests.fakes import bluesky as fakes
    from tests.fakes.bluesky_appview import AppViewNetwork, missing

    if missing() is not None:
        return None
    with contextlib.ExitStack() as stack:
        # Bluesky's real AppView (its PostgreSQL and Redis) behind the local PDS, as the tests use.
        network = AppViewNetwork()
        stack.callback(network.stop)
        case = stack.enter_context(fakes.adapter_case(tmp, pds=network.pds))
        case.adapter.timeout = 30
        token = case.pds.session(case.account)["accessJwt"]
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        ids: list[str] = []
        for start in range(0, posts, 200):  # applyWrites takes at most 200 writes
            writes = [
                {
                    "$type": "com.atproto.repo.applyWrites#create",
                    "collection": "app.bsky.feed.post",
                    "value": {"$type": "app.bsky.feed.post", "text": f"post {n}", "createdAt": now},
                }
                for n in range(start, min(start + 200, posts))
            ]
            made = case.pds.http.post(
                "/com.atproto.repo.applyWrites",
                json={"repo": case.account.did, "writes": writes},
                headers={"Authorization": f"Bearer {token}"},
            )
            made.raise_for_status()
            ids += [r["uri"] for r in made.json()["results"]]
            network.pds.sync()  # indexed by the AppView before the round (200 fit its timeout)

        def count() -> tuple[int, int]:
            seen = case.proxy.seen
            lookups = seen.count("/xrpc/app.bsky.feed.getPosts")
            return lookups, len(seen) - lookups

        return _round("bluesky", case.adapter, ids, count=count)


@contextlib.contextmanager
def _folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


BENCHES: tuple[Callable[[int, Path], Result | None], ...] = (
    x,
    bluesky,
    mastodon,
    linkedin,
    facebook,
    instagram,
    threads,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--platform", choices=[b.__name__ for b in BENCHES], action="append")
    args = parser.parse_args()
    print(f"one polling round over {args.posts} published posts per platform\n")
    print(
        f"{'platform':<10} {'batch':>5} {'requests':>8} {'least':>6} {'other':>6} "
        f"{'readings':>8} {'seconds':>8}"
    )
    for bench in BENCHES:
        if args.platform and bench.__name__ not in args.platform:
            continue
        with _folder() as tmp:
            result = bench(args.posts, tmp)
        if result is None:
            print(f"{bench.__name__:<10} skipped: the AppView cannot run here (.ci/pds-setup)")
            continue
        print(
            f"{result.platform:<10} {describe(result.platform).lookup_batch:>5} {result.requests:>8} "
            f"{result.least:>6} {result.other:>6} {result.readings:>8} "
            f"{result.seconds:>8.2f}"
        )


if __name__ == "__main__":
    main()
