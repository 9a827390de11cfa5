"""The ledger on a shared PostgreSQL (``--ledger postgresql://...``): a psycopg 3 pool.

Every statement is the SQLite ledger's own, put into psycopg's parameter style by
``dialect.placeholders``; rows are read by name or by position like ``sqlite3.Row``. The
password comes from the URL or from libpq's own places (PGPASSWORD, ~/.pgpass) and is never
shown: messages name the URL without it (``redact_url``). A server that cannot be reached or
refuses the login is one ``StateError`` line, as a damaged SQLite file is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, NoReturn
from urllib.parse import urlsplit

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from klapper.ledger.dialect import Dialect, placeholders
from klapper.ledger.faults import StateError
from klapper.ledger.schema import Migration, migrate
from klapper.ledger.url import redact_url

#: connections at most: the daemon's publishing workers, its loop, lease renewal, engagement
POOL_SIZE = 10
CONNECT_TIMEOUT = 10  # seconds to reach the server before saying it cannot be reached


@lru_cache(maxsize=1024)
def _pg(sql: str) -> str:
    return placeholders(sql, dialect="postgresql")


class PgRow(dict[str, Any]):
    """A row by column name, and by position as ``sqlite3.Row`` also allows."""

    __slots__ = ("_values",)
    _values: tuple[Any, ...]

    @classmethod
    def of(cls, names: Sequence[str], values: Sequence[Any]) -> PgRow:
        row = cls(zip(names, values, strict=True))
        row._values = tuple(values)
        return row

    def __getitem__(self, key: str | int) -> Any:
        if isinstance(key, int):
            return self._values[key]
        return dict.__getitem__(self, key)


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], PgRow]:
    names = [column.name for column in cursor.description or ()]

    return lambda values: PgRow.of(names, values)


class PgConnection:
    """One pooled connection in a transaction, speaking the ledger's SQLite-style SQL."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn

    def execute(self, sql: str, params: Mapping[str, Any] | Iterable[Any] = ()) -> Any:
        # Always with params (maybe empty): psycopg then reads '%%' as the '%' it stands for.
        return self.raw.execute(_pg(sql), params)  # type: ignore[arg-type]

    def executemany(self, sql: str, rows: Iterable[Any]) -> Any:
        cursor = self.raw.cursor()
        cursor.executemany(_pg(sql), rows)
        return cursor


class PostgresBackend:
    """A shared ledger on PostgreSQL: every process on every machine sees the same rows."""

    dialect: Dialect = "postgresql"
    shared = True

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE) -> None:
        self.url = url
        self.where = redact_url(url)
        self._secret = urlsplit(url).password
        # Autocommit: a read is one round trip; writes are explicit transactions (BEGIN ...).
        kwargs = {
            "row_factory": _row_factory,
            "connect_timeout": CONNECT_TIMEOUT,
            "autocommit": True,
        }
        try:
            # One connection first: a wrong URL or password fails here, in one clear line.
            psycopg.connect(url, **kwargs).close()  # type: ignore[arg-type]
        except psycopg.Error as exc:
            self._raise_fault(exc)
        self._pool = ConnectionPool(
            url, min_size=1, max_size=pool_size, kwargs=kwargs, open=False, name="klapper"
        )
        try:
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except PoolTimeout as exc:
            self._pool.close()
            self._raise_fault(exc)

    def _raise_fault(self, exc: Exception) -> NoReturn:
        """A server that cannot be used is a ``StateError`` naming it (never its password)."""
        text = " ".join(str(exc).split()) or type(exc).__name__
        if self._secret:
            text = text.replace(self._secret, "***")
        raise StateError(
            f"{self.where}: the PostgreSQL ledger cannot be used ({text}): check that the"
            " server runs and the URL, the role and its password (PGPASSWORD or ~/.pgpass)"
        ) from None

    @contextmanager
    def transaction(self) -> Iterator[PgConnection]:
        """One pooled connection for the block, committed at its end, rolled back on error."""
        try:
            with self._pool.connection() as conn, conn.transaction():
                yield PgConnection(conn)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            self._raise_fault(exc)

    def read(self, sql: str, params: Mapping[str, Any] | Iterable[Any] = ()) -> list[Any]:
        try:
            with self._pool.connection() as conn:
                rows: list[Any] = PgConnection(conn).execute(sql, params).fetchall()
                return rows
        except (psycopg.OperationalError, PoolTimeout) as exc:
            self._raise_fault(exc)

    def migrate(self, *, component: str, migrations: Sequence[Migration]) -> int:
        with self.transaction() as conn:
            return migrate(conn, component=component, migrations=migrations, dialect=self.dialect)

    def integrity_errors(self) -> tuple[type[BaseException], ...]:
        return (psycopg.errors.IntegrityError,)

    @contextmanager
    def try_lock(self, name: str) -> Iterator[bool]:
        """A session advisory lock on ``name`` for the block: False when another holds it.

        The lock lives on a connection of its own, held for the block, so that a process that
        dies (even by SIGKILL) gives it up when the server sees its connection close.
        """
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        with self._pool.connection() as conn:
            row = conn.execute("SELECT pg_try_advisory_lock(%s) AS got", (key,)).fetchone()
            got = bool(row and row[0])
            try:
                yield got
            finally:
                if got:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def close(self) -> None:
        self._pool.close()
