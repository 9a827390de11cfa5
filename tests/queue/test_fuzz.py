"""Fuzzing the loader: random YAML text and random post structures give Problems, never raise."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from klapper.queue import check_posts, load_repository
from klapper.scheduler.plan import plan_deliveries
from tests.queue.repo_helpers import make_repo

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
KEYS = [
    "id",
    "text",
    "at",
    "every",
    "start",
    "until",
    "count",
    "draft",
    "to",
    "media",
    "thread",
    "per",
    "lang",
    "cw",
    "visibility",
    "file",
    "alt",
    "x",
    "masto",
    "tex",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "2026-06-02 10:00",
            "2026-03-29 02:30",
            "2026-10-25 02:30",
            "2026-06-02T10:00+02:00",
            "0 9 * * MON",
            "*/5 * * * *",
            "30 2 * * *",
            "../media/a.png",
            "/etc/passwd",
            "../../outside.png",
            "outbox",
            "masto",
            "public",
            "9999-12-31 23:59",
            "0001-01-01 00:00",
        ]
    ),
    st.dates().map(str),
    st.datetimes().map(str),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)
    ),
    max_leaves=12,
)
posts = st.dictionaries(st.sampled_from(KEYS), values, max_size=8)


times = st.one_of(
    st.datetimes(),
    st.datetimes().map(str),
    st.dates(),
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%d %H:%M")),
    st.text(max_size=12),
)
plausible = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=8),
        "text": st.text(max_size=400),
        "at": times,
        "start": times,
        "until": times,
        "every": st.sampled_from(
            [
                "0 9 * * MON",
                "* * * * *",
                "@daily",
                "0 0 29 2 *",
                "5 4 * * sun",
                "61 * * * *",
                "0 9 * *",
            ]
        ),
        "count": st.integers(-2, 10**6),
        "draft": st.booleans(),
        "to": st.lists(
            st.sampled_from(["outbox", "masto", "bsky", "x", "li", "nobody"]), max_size=4
        ),
        "media": st.lists(
            st.fixed_dictionaries(
                {
                    "file": st.sampled_from(
                        ["../media/a.png", "../../x.png", "/etc/hosts", "missing.png", ""]
                    )
                },
                optional={"alt": st.text(max_size=20)},
            ),
            max_size=6,
        ),
        "thread": st.lists(st.one_of(st.text(max_size=300), values), max_size=3),
        "per": st.dictionaries(
            st.sampled_from(["x", "masto", "mastodon", "bluesky", "nope"]),
            st.one_of(
                values,
                st.fixed_dictionaries(
                    {}, optional={"text": st.text(max_size=300), "cw": st.text(max_size=5)}
                ),
            ),
            max_size=3,
        ),
    },
)


def _run(files: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = make_repo(Path(folder), files)
        repo = load_repository(root)
        now = datetime(2026, 6, 1, tzinfo=UTC)
        check_posts(repo, now=now)
        plan_deliveries(
            config=repo.config,
            posts=repo.posts,
            start=now - timedelta(days=400),
            end=now + timedelta(days=400),
        )
        assert all(p.source.line >= 1 and p.source.column >= 1 for p in repo.problems)
        ids = [p.id for p in repo.posts]
        assert len(ids) == len(set(ids))


@FUZZ
@given(st.text(max_size=300))
def test_random_text_never_raises(text: str) -> None:
    _run({"posts/fuzz.yaml": text, "posts/fine.yaml": "text: still here\n"})


@FUZZ
@given(
    st.lists(
        st.sampled_from(
            [
                "text: ",
                "at: ",
                "every: ",
                "- ",
                "  ",
                "\n",
                ": ",
                "&a ",
                "*a ",
                "[",
                "]",
                "{",
                "}",
                "'",
                '"',
                "#",
                "---\n",
                "!!python/object ",
                "\t",
                "|\n",
                "2026-03-29 02:30",
                "to: [",
                "media:\n",
                "  - file: ",
                "per:\n",
                "x",
                "\ufeff",
                "\x00",
            ]
        ),
        max_size=40,
    ).map("".join)
)
def test_yaml_like_noise_never_raises(text: str) -> None:
    _run({"posts/fuzz.yaml": text})


@FUZZ
@given(st.one_of(posts, st.lists(posts, max_size=4)))
def test_random_post_structures_never_raise(data: Any) -> None:
    _run(
        {
            "posts/fuzz.yaml": yaml.safe_dump(data, allow_unicode=True),
            "media/a.png": "not really a png",
        }
    )


@FUZZ
@given(st.lists(plausible, min_size=1, max_size=4))
def test_plausible_posts_never_raise(data: list[dict[str, Any]]) -> None:
    _run(
        {
            "posts/fuzz.yaml": yaml.safe_dump(data, allow_unicode=True),
            "media/a.png": "not really a png",
        }
    )
