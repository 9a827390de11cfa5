"""Evergreen posts over six months on a moved clock: spacing, the per-day cap, downtime, DST."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from klapper.cli import app
from klapper.ledger import ON_PLATFORM, Delivery, Ledger, State
from klapper.queue import load_repository
from klapper.scheduler.engine import Engine
from tests.queue.repo_helpers import make_repo
from tests.scheduler.helpers import Clock
from tests.scheduler.procs import wait_for

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2027, 9, 27, 6, tzinfo=UTC)  # a Monday; DST ends 2027-10-31, starts 2028-03-26
END = START + timedelta(days=183)
DOWN = (datetime(2027, 12, 1, 12, tzinfo=UTC), datetime(2027, 12, 15, 12, tzinfo=UTC))
CONFIG = """\
timezone: Europe/Berlin
accounts:
  a: {platform: outbox, path: out-a}
  b: {platform: outbox, path: out-b}
defaults: {to: [a]}
slots:
  mon: ["09:00", "18:00"]
  tue: ["09:00", "18:00"]
  wed: ["09:00", "18:00"]
  thu: ["09:00", "18:00"]
  fri: ["09:00", "18:00"]
  sat: ["11:00"]
  sun: ["02:30", "11:00"]     # 02:30 does not exist on 2028-03-26 and happens twice 2027-10-31
"""
POSTS = {
    "posts/weekly.yaml": "text: Our workshop is open daily\nto: [a, b]\nevergreen: {every: 1w}\n",
    "posts/tools.yaml": "text: Which tools we use\nevergreen: {every: 2w}\n",
    "posts/care.yaml": "text: Oil your bench twice a year\nto: [b]\nevergreen: {every: 2w}\n",
    "posts/gift.yaml": "text: Gift cards\nto: [a, b]\nevergreen: {every: 3w}\n",
    # The same words as the gift post, at a fixed time: the gift post keeps 3 weeks from it.
    "posts/gift-again.yaml": "text: Gift cards\nat: 2027-11-10 09:00\n",
    "posts/news-1.yaml": "text: New courses in spring\n",
    "posts/news-2.yaml": "text: Holiday hours\n",
}
EVERY = {"weekly": 7, "tools": 14, "care": 14, "gift": 21}
SLOT_CLOCKS = {time(9), time(18), time(11), time(2, 30), time(3, 30)}


def _run(engine: Engine, clock: Clock, *, until: datetime, down: tuple[datetime, datetime]) -> None:
    """Run ``engine`` as a batch timer would, up to ``until``; klapper is off during ``down``."""
    while clock.now < until:
        if down[0] <= clock.now < down[1]:
            clock.now = down[1]
            continue
        engine.reload()
        assert engine.publisher is not None
        engine.publisher.publish_due()
        waiting = [d.due for d in engine.ledger.waiting() if d.state is State.PLANNED]
        step = min([*waiting, clock.now + timedelta(hours=12)])
        clock.now = max(step, clock.now + timedelta(minutes=1))


def _simulate(repo: Path, state: Path) -> list[Delivery]:
    """Six months from START, down during DOWN; every delivery the ledger holds at the end."""
    clock = Clock(START)
    engine = Engine(repo=repo, state=state, clock=clock)
    try:
        _run(engine, clock, until=END, down=DOWN)
        return engine.ledger.deliveries()
    finally:
        engine.close()


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Delivery]]:
    root = tmp_path_factory.mktemp("evergreen")
    repo = make_repo(root / "repo", POSTS, config=CONFIG)
    return repo, _simulate(repo, root / "state")


def _out(rows: list[Delivery]) -> list[Delivery]:
    """What went out, in order. The outbox stamps ``published_at`` with the real time, not the
    moved clock, so each is taken at its ``due``: the clock reached it, and it went out then."""
    return sorted((d for d in rows if d.state in ON_PLATFORM), key=lambda d: d.due)


def _name(row: Delivery) -> str:
    return row.post_id.removeprefix("posts/").removesuffix(".yaml")


def test_each_recurrence_is_its_own_delivery_and_never_twice(simulated) -> None:
    repo, rows = simulated
    out = _out(rows)
    keys = [(d.post_id, d.occurrence, d.account) for d in out]
    assert len(keys) == len(set(keys))  # one delivery per post, occurrence and account
    sent = sum(len(list((repo / f"out-{a}").glob("*.json"))) for a in "ab")
    assert sent == len(out)  # and the platform got each exactly once
    counts = Counter(_name(d) for d in out if d.account == "a")
    # Six months less two weeks down, minus the first time: about 24 weeks of recurrences.
    assert 21 <= counts["weekly"] <= 25
    assert 10 <= counts["tools"] <= 13
    assert 6 <= counts["gift"] <= 9
    assert counts["news-1"] == counts["news-2"] == counts["gift-again"] == 1
    assert not [d for d in rows if d.state is State.FAILED]


def test_spacing_never_the_same_text_within_the_interval(simulated) -> None:
    _, rows = simulated
    times: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for d in _out(rows):
        times[d.account, d.first_line].append(d.due)
    gaps: dict[str, list[float]] = defaultdict(list)
    for (account, text), sent in times.items():
        name = {"Our": "weekly", "Which": "tools", "Oil": "care", "Gift": "gift"}.get(
            text.split()[0]
        )
        if name is None:
            continue
        for before, after in pairwise(sent):
            days = (after - before).total_seconds() / 86400
            assert days >= EVERY[name], (account, text, before, after)
            if not (before < DOWN[1] and after > DOWN[0]):
                gaps[name].append(days)
    # Evenly: outside the downtime, each comes round within a few days of its interval (the
    # gift post also keeps 3 weeks from the same words posted on 10 November, on both
    # accounts, since one recurrence takes one slot for all its accounts).
    assert set(gaps) == {"weekly", "tools", "care", "gift"}
    for name, found in gaps.items():
        if name == "gift":
            assert sorted(found)[-2] <= EVERY[name] + 4, found
            continue
        assert max(found) <= EVERY[name] + 4, (name, found)


def test_per_day_cap_and_no_burst_after_downtime(simulated) -> None:
    _, rows = simulated
    out = _out(rows)
    per_day = Counter(
        (d.account, d.due.astimezone(BERLIN).date())
        for d in out
        if d.occurrence.startswith("evergreen:")
    )
    assert max(per_day.values()) == 1
    assert not [d for d in out if DOWN[0] <= d.due < DOWN[1]]
    after = [d for d in out if DOWN[1] <= d.due < DOWN[1] + timedelta(days=1)]
    assert len({d.post_id for d in after if d.account == "a"}) <= 1
    # What came due while down was moved to the next free slots, one a day, not missed.
    assert not [d for d in rows if d.state is State.MISSED and d.occurrence]
    # Those that came due while down went out one after the other in the next free slots.
    first = {
        name: min(d.due for d in out if _name(d) == name and d.due >= DOWN[1])
        for name in ("weekly", "tools", "care")
    }
    assert all(when - DOWN[1] < timedelta(days=3) for when in first.values()), first
    assert len(set(first.values())) == 3, first


def test_times_are_slot_times_across_both_dst_changes(simulated) -> None:
    _, rows = simulated
    out = [d for d in _out(rows) if d.slotted]
    local = [d.due.astimezone(BERLIN) for d in out]
    assert {t.time().replace(tzinfo=None) for t in local} <= SLOT_CLOCKS
    offsets = {t.utcoffset() for t in local}
    assert offsets == {timedelta(hours=1), timedelta(hours=2)}  # both sides of both changes


def test_plan_shows_upcoming_recurrences(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KLAPPER_STATE", str(tmp_path / "state"))
    repo = make_repo(
        tmp_path / "repo", {"posts/weekly.yaml": POSTS["posts/weekly.yaml"]}, config=CONFIG
    )
    result = CliRunner().invoke(
        app, ["plan", "--days", "22", "--repo", str(repo), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    rows = [r for r in json.loads(result.output) if r["account"] == "a"]
    assert [r["occurrence"] for r in rows] == ["", "evergreen:1", "evergreen:2", "evergreen:3"]
    assert [r["evergreen"] for r in rows] == [None, 1, 2, 3]
    days = [datetime.fromisoformat(r["due"]) for r in rows]
    assert all(later - before >= timedelta(days=7) for before, later in pairwise(days))
    text = CliRunner().invoke(app, ["plan", "--days", "22", "--repo", str(repo)])
    assert "(evergreen #1)" in text.output


def _plan_weekly(
    ledger: Ledger, *, occurrence: str, account: str, due: datetime, now: datetime
) -> Delivery:
    """posts/weekly.yaml planned in the ledger for ``account``, as sync plans it."""
    return ledger.insert_planned(
        post_id="posts/weekly.yaml",
        occurrence=occurrence,
        account=account,
        platform="outbox",
        due=due,
        content_hash="h",
        slotted=True,
        source="posts/weekly.yaml",
        first_line="Our workshop is open daily",
        now=now,
    )


def test_status_marks_evergreen_time_rounds(tmp_path: Path) -> None:
    state, now = tmp_path / "state", datetime.now(UTC).replace(microsecond=0)
    ledger = Ledger.open(state=state)
    for occurrence, due in (
        ("", now + timedelta(days=1)),
        ("evergreen:2", now + timedelta(days=8)),
    ):
        _plan_weekly(ledger, occurrence=occurrence, account="a", due=due, now=now)
    ledger.close()
    where = ["--repo", str(tmp_path), "--state", str(state)]  # no klapper.yaml: the ledger alone
    result = CliRunner().invoke(app, ["status", "--format", "json", *where])
    assert result.exit_code == 0, result.output
    upcoming = json.loads(result.output)["upcoming"]
    assert [(d["occurrence"], d["evergreen"]) for d in upcoming] == [
        (None, None),
        ("evergreen:2", 2),
    ]
    text = CliRunner().invoke(app, ["status", *where], terminal_width=200).output
    (first,) = [line for line in text.splitlines() if upcoming[0]["delivery"] in line]
    (round_two,) = [line for line in text.splitlines() if upcoming[1]["delivery"] in line]
    assert "(evergreen #2)" in round_two and "evergreen" not in first


@pytest.mark.parametrize(
    ("post", "message"),
    [
        ("evergreen: {every: 8x}", "evergreen › every: '8x' is not a duration; write e.g. 8w"),
        ("evergreen: {every: 6h}", "shorter than a day"),
        ("evergreen: {every: 2w}\nevery: '0 9 * * MON'", "cannot also be evergreen"),
        ("evergreen: {evry: 2w}", "evergreen: unknown key 'evry'; did you mean 'every'?"),
    ],
)
def test_bad_evergreen_values_are_clear(tmp_path: Path, post: str, message: str) -> None:
    repo = make_repo(tmp_path / "repo", {"posts/p.yaml": f"text: hi\n{post}\n"}, config=CONFIG)
    problems = [p for p in load_repository(repo).problems if p.severity == "error"]
    assert [p for p in problems if message in p.message and p.source.line == 2], problems


def test_evergreen_needs_slots(tmp_path: Path) -> None:
    config = CONFIG.split("slots:")[0]
    repo = make_repo(tmp_path / "repo", {"posts/p.yaml": POSTS["posts/weekly.yaml"]}, config=config)
    [problem] = [p for p in load_repository(repo).problems if p.severity == "error"]
    assert "klapper.yaml has no `slots:`" in problem.message


def test_a_renamed_evergreen_post_keeps_its_times_round(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "repo", {"posts/weekly.yaml": POSTS["posts/weekly.yaml"]}, config=CONFIG
    )
    clock = Clock(START)
    engine = Engine(repo=repo, state=tmp_path / "state", clock=clock)
    try:
        _run(engine, clock, until=START + timedelta(days=17), down=(END, END))
        before = engine.ledger.deliveries()
        (repo / "posts/weekly.yaml").rename(repo / "posts/renamed.yaml")
        engine.reload()
        after = engine.ledger.deliveries()
    finally:
        engine.close()
    went = sorted({d.occurrence for d in before if d.state in ON_PLATFORM})
    assert went == ["", "evergreen:1", "evergreen:2"]
    # The times round follow the file: none goes out again, the next is the third.
    assert {d.post_id for d in after} == {"posts/renamed.yaml"}
    assert sorted({d.occurrence for d in after if d.state is State.PLANNED}) == ["evergreen:3"]
    assert len(after) == len(before)


def test_plan_counts_from_when_the_ledger_says_it_went_out(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KLAPPER_STATE", str(tmp_path / "state"))
    repo = make_repo(
        tmp_path / "repo", {"posts/weekly.yaml": POSTS["posts/weekly.yaml"]}, config=CONFIG
    )
    went = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    ledger = Ledger.open(state=tmp_path / "state")
    ledger.assign_slots({"posts/weekly.yaml": went})  # the slot it went out in, as sync keeps
    for account in ("a", "b"):
        row = _plan_weekly(ledger, occurrence="", account=account, due=went, now=went)
        claimed = ledger.claim(row.id, token="t", owner="test", now=went)
        assert claimed is not None
        ledger.update(
            row.id,
            now=went,
            expect=[State.CLAIMED],
            state=State.PUBLISHED,
            token="t",
            published_at=went,
        )
    ledger.close()
    result = CliRunner().invoke(
        app, ["plan", "--days", "15", "--repo", str(repo), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    rows = [r for r in json.loads(result.output) if r["account"] == "a"]
    assert [r["occurrence"] for r in rows] == ["evergreen:1", "evergreen:2"]  # not "" again
    first = datetime.fromisoformat(rows[0]["due"])
    assert went + timedelta(days=7) <= first <= went + timedelta(days=8)


def test_the_daemon_plans_the_next_time_round_right_after_publishing(tmp_path: Path) -> None:
    repo, state = tmp_path / "repo", tmp_path / "state"
    at = (datetime.now(UTC) + timedelta(seconds=3)).isoformat(timespec="seconds")
    make_repo(
        repo,
        {"posts/p.yaml": f"text: Gift cards\nat: {at}\nevergreen: {{every: 1d}}\n"},
        config=CONFIG,
    )
    env = {**os.environ, "KLAPPER_SECRETS": str(tmp_path / "none.yaml")}
    env.pop("NOTIFY_SOCKET", None)
    args = ["run", "--repo", str(repo), "--state", str(state)]
    proc = subprocess.Popen(
        [sys.executable, "-c", "from klapper.cli import main; main()", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: (state / "ledger.sqlite3").exists(), timeout=20)
        ledger = Ledger.open(state=state)
        try:
            # Not at the next replan hours later: right after the publish.
            rows = wait_for(
                lambda: [d for d in ledger.deliveries() if d.occurrence == "evergreen:1"],
                timeout=20,
            )
        finally:
            ledger.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
    assert code == 0, proc.stderr.read().decode() if proc.stderr else ""
    assert {d.account for d in rows} == {"a"} and rows[0].state is State.PLANNED
    assert rows[0].due >= datetime.fromisoformat(at) + timedelta(days=1)
