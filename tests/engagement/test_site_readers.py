"""The Matomo and Plausible readers against fakes answering as the APIs' documentation shows:
request shapes, paging and limits, and every fault as one line without the token."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from klapper.engagement.matomo import MatomoReader
from klapper.engagement.plausible import PlausibleReader
from klapper.engagement.sites import SiteClient, SiteError, SiteRow
from tests.fakes.matomo import SITE_ID, TOKEN, MatomoState, fake_matomo
from tests.fakes.plausible import KEY, SITE, fake_plausible
from tests.fakes.site_visits import SiteState, Visit

DAY = date(2026, 12, 1)
NEXT = DAY + timedelta(days=1)
VISITS = [
    Visit("posts/advent.yaml", "mastodon", DAY, "a", goals=("booking",)),
    Visit("posts/advent.yaml", "mastodon", DAY, "a"),
    Visit("posts/advent.yaml", "mastodon", DAY, "b", goals=("booking", "newsletter")),
    Visit("posts/advent.yaml", "bluesky", NEXT, "c"),
    Visit("Kurse", "mastodon", NEXT, "d"),
    Visit("", "mastodon", DAY, "e"),  # no campaign: not klapper's
]


def _matomo(base: str, token: str = TOKEN, *, timeout: float = 5.0, **kw: object) -> MatomoReader:
    client = SiteClient(tool="matomo", base=base, token=token, timeout=timeout)
    return MatomoReader(client=client, site_id=SITE_ID, **kw)  # type: ignore[arg-type]


def _plausible(base: str, token: str = KEY, *, page: int = 10_000) -> PlausibleReader:
    client = SiteClient(tool="plausible", base=base, token=token, timeout=5.0)
    return PlausibleReader(client=client, site_id=SITE, page=page)


def test_matomo_reads_every_source_and_day_in_one_bulk_request_with_the_token_posted() -> None:
    with fake_matomo() as (base, state):
        state.add(VISITS)
        got = _matomo(base).read(
            start=DAY, end=NEXT, sources=["mastodon", "bluesky", "x"], budget=10
        )
    assert got.requests == 1 and got.complete
    assert sorted(got.rows, key=lambda r: (r.day, r.source, r.campaign)) == [
        # Matomo lowercases campaign names; absent conversions are none that day.
        SiteRow("posts/advent.yaml", "mastodon", DAY, visits=3, visitors=2, goals=3),
        SiteRow("posts/advent.yaml", "bluesky", NEXT, visits=1, visitors=1, goals=0),
        SiteRow("kurse", "mastodon", NEXT, visits=1, visitors=1, goals=0),
    ]
    (asked,) = state.asked
    assert asked["method"] == "API.getBulkRequest" and asked["token_auth"] == TOKEN
    assert "token_auth" not in asked["address"]  # never in the address (logs, proxies)
    assert "segment=campaignSource%3D%3Dbluesky" in asked["urls[1]"]
    assert "filter_limit=-1" in asked["urls[0]"] and "period=day" in asked["urls[0]"]


def test_matomo_reads_past_its_100_rows_a_day() -> None:
    with fake_matomo() as (base, state):
        state.add(Visit(f"post-{n}", "x", DAY) for n in range(150))
        got = _matomo(base).read(start=DAY, end=DAY, sources=["x"], budget=1)
    assert len(got.rows) == 150


def test_matomo_without_source_split_reads_each_campaign_once() -> None:
    with fake_matomo(MatomoState(token=TOKEN, campaign_plugin=False)) as (base, state):
        state.add(VISITS)
        with pytest.raises(SiteError) as error:
            _matomo(base).read(start=DAY, end=NEXT, sources=["mastodon"], budget=5)
        # Matomo's 200-with-error, inside the bulk answer: one line with Matomo's words.
        host = base.split("//")[1]
        assert str(error.value) == (
            f"matomo at {host} says: Segment 'campaignSource' is not a supported segment."
        )
        got = _matomo(base, by_source=False).read(
            start=DAY, end=NEXT, sources=["mastodon"], budget=5
        )
    assert {(r.campaign, r.source, r.visits) for r in got.rows} == {
        ("posts/advent.yaml", "", 3),
        ("posts/advent.yaml", "", 1),
        ("kurse", "", 1),
    }


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        (
            (200, {"result": "error", "message": f"token {TOKEN} expired"}),
            "says: token [redacted] expired",
        ),
        ((500, "<html><title>Internal Server Error</title></html>"), "answered HTTP 500"),
        ((503, {"result": "error", "message": "Maintenance"}), "answered HTTP 503: Maintenance"),
        ((200, "<html>login</html>"), "answered text/html instead of JSON"),
    ],
)
def test_matomo_faults_are_one_line_without_the_token(fault: tuple[int, object], said: str) -> None:
    with fake_matomo() as (base, state):
        state.faults.append(fault)
        with pytest.raises(SiteError) as error:
            _matomo(base).read(start=DAY, end=DAY, sources=["x"], budget=5)
    message = str(error.value)
    assert said in message and TOKEN not in message and "\n" not in message
    assert error.value.requests == 1


def test_a_refused_token_names_the_secret_to_set() -> None:
    with fake_matomo() as (base, _), pytest.raises(SiteError) as matomo:
        _matomo(base, "wrong-token-0000").read(start=DAY, end=DAY, sources=["x"], budget=5)
    with fake_plausible() as (base, _), pytest.raises(SiteError) as plausible:
        _plausible(base, "wrong-key-0000").read(start=DAY, end=DAY, sources=[], budget=5)
    assert "matomo at 127.0.0.1" in str(matomo.value)
    assert "refused the token (HTTP 401: You can't access this resource" in str(matomo.value)
    assert str(plausible.value).endswith(
        "refused the token (HTTP 401: Invalid API key or site ID combination); store a valid "
        "one as the secret analytics › token (KLAPPER_ANALYTICS_TOKEN)"
    )


def test_a_site_that_does_not_answer_in_time_is_one_line() -> None:
    with fake_matomo() as (base, state):
        state.delay = 2.0
        with pytest.raises(SiteError) as error:
            _matomo(base, timeout=0.2).read(start=DAY, end=DAY, sources=["x"], budget=5)
        state.released.set()
    host = base.split("//")[1]
    assert str(error.value) == f"matomo at {host} did not answer within 0.2 s"


def test_plausible_reads_visits_visitors_and_goals_per_campaign_source_and_day() -> None:
    with fake_plausible() as (base, state):
        state.add(VISITS)
        got = _plausible(base).read(start=DAY, end=NEXT, sources=[], budget=10)
    assert got.requests == 2 and got.complete  # visits, then goal conversions
    assert got.rows == [
        SiteRow("Kurse", "mastodon", NEXT, visits=1, visitors=1, goals=0),
        SiteRow("posts/advent.yaml", "bluesky", NEXT, visits=1, visitors=1, goals=0),
        SiteRow("posts/advent.yaml", "mastodon", DAY, visits=3, visitors=2, goals=3),
    ]
    visits, goals = (asked["query"] for asked in state.asked)
    assert state.asked[0]["auth"] == f"Bearer {KEY}"
    assert visits["dimensions"] == ["visit:utm_campaign", "visit:utm_source", "time:day"]
    assert visits["metrics"] == ["visits", "visitors"]
    assert goals["dimensions"][0] == "event:goal" and goals["metrics"] == ["events"]
    assert visits["date_range"] == ["2026-12-01", "2026-12-02"]


def test_plausible_pages_through_its_row_limit_within_the_budget() -> None:
    with fake_plausible() as (base, state):
        state.add(Visit(f"post-{n}", "x", DAY) for n in range(25))
        got = _plausible(base, page=10).read(start=DAY, end=DAY, sources=[], budget=10)
        assert got.requests == 4 and len(got.rows) == 25  # 3 pages of visits, 1 of goals
        assert [a["query"]["pagination"]["offset"] for a in state.asked] == [0, 10, 20, 0]
        short = _plausible(base, page=10).read(start=DAY, end=DAY, sources=[], budget=2)
    assert short.requests == 2 and not short.complete


def test_plausible_errors_are_its_own_words() -> None:
    with fake_plausible(SiteState(token=KEY)) as (base, state):
        state.faults.append((429, {"error": "Too many API requests. Limit: 600/hour"}))
        with pytest.raises(SiteError) as limited:
            _plausible(base).read(start=DAY, end=DAY, sources=[], budget=5)
        client = SiteClient(tool="plausible", base=base, token=KEY, timeout=5.0)
        with pytest.raises(SiteError) as unknown:
            PlausibleReader(client=client, site_id="other.example").read(
                start=DAY, end=DAY, sources=[], budget=5
            )
    assert "limits the requests (HTTP 429: Too many API requests" in str(limited.value)
    assert "answered HTTP 400: Site not found: 'other.example'" in str(unknown.value)
