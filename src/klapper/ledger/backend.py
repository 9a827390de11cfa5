"""Where the ledger's rows live: SQLite in the state folder (the default), or PostgreSQL by URL.

``Ledger`` (store.py) writes its SQL once, in SQLite's parameter style, and hands it to a
backend: ``SqliteBackend`` here (one connection behind a lock, BEGIN IMMEDIATE) or
``PostgresBackend`` (postgres.py: a psycopg pool, placeholders turned into psycopg's style).
Both yield connections with ``execute(sql, params)`` / ``executemany`` whose rows are read by
name or by position, and both turn a fault of the store into one ``StateError`` line.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any, NoReturn, Protocol

from klapper.ledger.dialect import Dialect
from klapper.ledger.faults import ledger_error, os_error
from klapper.ledger.schema import Migration, migrate

#: a row read by name (``row["id"]``) or by position (``row[0]``), on either backend
Row = Any

LEDGER_FILE = "ledger.sqlite3"


class Backend(Protocol):
    """What ``Ledger`` needs of the database behind it."""

    dialect: Dialect
    #: several processes on several machines share it (PostgreSQL): leases, no repository lock
    shared: bool
    #: the file, or the URL without its password: for messages
    where: str

    def transaction(self) -> AbstractContextManager[Any]: ...

    def read(self, sql: str, params: Mapping[str, Any] | Iterable[Any] = ()) -> list[Row]: ...

    def migrate(self, *, component: str, migrations: Sequence[Migration]) -> int: ...

    def integrity_errors(self) -> tuple[type[BaseException], ...]: ...

    def try_lock(self, name: str) -> AbstractContextManager[bool]: ...

    def close(self) -> None: ...


class SqliteBackend:
    """The ledger file in the state folder (WAL). Thread-safe: one connection behind a lock."""

    dialect: Dialect = "sqlite"
    shared = False

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise os_error(exc, path=path.parent) from exc
        self.path = path
        self.where = str(path)
        self._lock = threading.RLock()
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode = WAL")
            # FULL: a claim or an outcome that was committed survives a power cut as well.
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA foreign_keys = ON")
            self._conn = conn
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            self._raise_fault(exc)

    def _raise_fault(self, exc: sqlite3.Error) -> NoReturn:
        """A fault of the file becomes a ``StateError`` that names it; others are re-raised."""
        fault = ledger_error(exc, path=self.path)
        if fault is None:
            raise exc
        raise fault from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT: the write lock is taken at once, not on first write."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    with suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                self._raise_fault(exc)

    def read(self, sql: str, params: Mapping[str, Any] | Iterable[Any] = ()) -> list[Row]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()  # type: ignore[arg-type]
            except sqlite3.Error as exc:
                self._raise_fault(exc)

    def migrate(self, *, component: str, migrations: Sequence[Migration]) -> int:
        with self._lock:
            try:
                return migrate(self._conn, component=component, migrations=migrations)
            except sqlite3.Error as exc:
                self._raise_fault(exc)

    def integrity_errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.IntegrityError,)

    @contextmanager
    def try_lock(self, name: str) -> Iterator[bool]:
        """Always granted: one SQLite ledger serves one repository (repolock.py) on one host."""
        yield True

    def close(self) -> None:
        with self._lock:
            self._conn.close()
