"""Migrations per component: the ledger's, engagement's made by its store, old ledgers converted.

``data/ledger-before-components.sqlite3`` was made by klapper before components (one
``schema_version`` count over one list: ledger 1, engagement 1, ledger 2): a delivery published
in two parts, one planned, a reading, an inbox question and an event-log mark.
"""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from klapper.engagement.schema import MIGRATIONS as ENGAGEMENT
from klapper.engagement.store import EngagementStore
from klapper.ledger import Ledger
from klapper.ledger.schema import MIGRATIONS as LEDGER

OLD_LEDGER = Path(__file__).parent / "data" / "ledger-before-components.sqlite3"
#: the one list ledgers had before components, in its order
LEGACY = [LEDGER[0], ENGAGEMENT[0], LEDGER[1]]
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
#: engagement's version once its store opened the ledger, and the count an older klapper
#: (one list) reads then: the list's length while only that list was applied, else one more
#: (an older klapper is told the ledger is newer than it knows)
CURRENT = len(ENGAGEMENT)
NEWER = 3 if CURRENT == 1 else 4


def versions(path: Path) -> tuple[dict[str, int], int]:
    """Each component's version, and the count an older klapper reads."""
    conn = sqlite3.connect(path)
    found = dict(conn.execute("SELECT component, version FROM schema_versions").fetchall())
    legacy = conn.execute("SELECT version FROM schema_version").fetchone()[0]
    conn.close()
    return found, legacy


def tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    return names


def test_a_ledger_made_before_components_keeps_working(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    shutil.copy(OLD_LEDGER, path)
    ledger = Ledger(path)
    assert versions(path) == ({"ledger": 2, "engagement": 1}, 3)
    published = [d for d in ledger.deliveries() if d.url]
    assert [d.post_id for d in ledger.deliveries()] == ["posts/hello.yaml", "posts/later.yaml"]
    assert [p.remote_id for p in ledger.parts(published[0].id)] == ["100", "101"]
    store = EngagementStore(ledger)  # engagement's later migrations (visits ...) are applied
    assert [(r.remote_id, r.likes) for r in store.readings()] == [("100", 4)]
    assert [(i.author, i.attention) for i in store.inbox_items(open_only=True)] == [
        ("@ann@example.social", "question")
    ]
    assert store.mark("events") == "1234"
    ledger.close()
    # Opening alone applied nothing newer; the store applied engagement's own later ones.
    assert versions(path) == ({"ledger": 2, "engagement": CURRENT}, NEWER)


@pytest.mark.parametrize("count", [0, 1, 2, 3])
def test_every_count_of_the_old_single_list_converts(tmp_path: Path, count: int) -> None:
    path = tmp_path / "ledger.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version (version) VALUES (?)", (count,))
    for step in LEGACY[:count]:
        for statement in step:
            conn.execute(statement)
    conn.commit()
    conn.close()
    ledger = Ledger(path)
    EngagementStore(ledger)  # applies only what the old count had not
    ledger.close()
    assert versions(path) == ({"ledger": 2, "engagement": CURRENT}, NEWER)
    assert {"deliveries", "ledger_meta", "readings", "inbox"} <= tables(path)


def test_the_ledger_makes_only_its_tables_and_the_store_makes_engagements(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path)
    assert "readings" not in tables(path)
    # Without engagement's tables an older klapper would apply its list over the ledger's
    # tables: it is told the ledger is newer than it knows instead.
    assert versions(path) == ({"ledger": 2}, 4)
    EngagementStore(ledger)
    EngagementStore(ledger)  # once per open ledger
    assert "readings" in tables(path)
    assert versions(path) == ({"ledger": 2, "engagement": CURRENT}, NEWER)
    ledger.close()


def test_a_component_newer_than_this_klapper_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    EngagementStore(Ledger(path)).ledger.close()
    conn = sqlite3.connect(path)
    conn.execute(
        "UPDATE schema_versions SET version = ? WHERE component = 'engagement'", (CURRENT + 1,)
    )
    conn.commit()
    conn.close()
    ledger = Ledger(path)  # the ledger's own tables are fine: publishing goes on
    newer = rf"engagement schema version {CURRENT + 1}.*upgrade klapper"
    with pytest.raises(RuntimeError, match=newer):
        EngagementStore(ledger)
    ledger.close()


def test_a_reviews_stars_move_from_its_text_into_their_own_column(tmp_path: Path) -> None:
    """Engagement 2: reviews kept before the column get their rating from their text."""
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path)
    ledger.ensure_schema(component="engagement", migrations=ENGAGEMENT[:1])
    with ledger.transaction() as conn:
        for number, (kind, text) in enumerate(
            [
                ("review", "★★★★☆ Sehr gute Brötchen"),
                ("review", "★☆☆☆☆"),
                ("review", "no stars at all"),
                ("reply", "★★★★★ a reply that starts with stars"),
            ]
        ):
            conn.execute(
                "INSERT INTO inbox (id, account, platform, remote_id, kind, author, text,"
                " created_at, by_self, seen_at) VALUES (?, 'gbp', 'google-business', ?, ?,"
                " 'Ann', ?, '2026-12-01T09:00:00.000000+00:00', 0,"
                " '2026-12-01T09:00:00.000000+00:00')",
                (f"i{number}", f"r{number}", kind, text),
            )
    ledger.close()
    ledger = Ledger(path)
    items = {i.remote_id: i for i in EngagementStore(ledger).inbox_items()}
    ledger.close()
    assert {k: i.rating for k, i in items.items()} == {"r0": 4, "r1": 1, "r2": None, "r3": None}
    assert items["r0"].text.startswith("★★★★☆")  # the stars still show with the text
