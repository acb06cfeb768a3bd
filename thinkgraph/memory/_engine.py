""":class:`Engines`: a sync and an async SQLAlchemy engine on one database, and how the memory
layer takes connections from them: read and write transactions (SQLite writers serialized per
process), and the DBAPI cursors of the hot statements (``_rawsql``), whose pooled connections
stay checked out between uses. ``_engine_create`` builds them from a URL or an engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import sqlalchemy.exc
from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from thinkgraph.exceptions import DatabaseUnavailableError
from thinkgraph.memory._group_writer import GroupWriter

__all__ = ["WRITE_OPTION", "Dialect", "Engines"]

Dialect = Literal["sqlite", "postgresql", "mysql"]
T = TypeVar("T")

WRITE_OPTION = "thinkgraph_write"  # an engine's option: its transactions begin IMMEDIATE (SQLite)

# sync drivers whose connections :meth:`Engines.raw_write` drives directly
_RAW_DRIVERS = frozenset({"pysqlite", "psycopg"})
_HINTS = {
    "sqlite": "check that the file's directory exists or can be created and is writable",
    "postgresql": "check that PostgreSQL is running and the host, port, user, password and database "
    "in the URL are right",
    "mysql": "check that MySQL/MariaDB is running and the host, port, user, password and database "
    "in the URL are right",
}


@dataclass(frozen=True, eq=False)
class Engines:
    """A sync and an async engine on the same database.

    Attributes:
        sync: the synchronous engine.
        async_: the asynchronous engine (same database, async driver).
        dialect: ``"sqlite"``, ``"postgresql"`` or ``"mysql"`` (MariaDB included).
        keeper: for in-memory SQLite, the connection that keeps the database alive.
        raw: for PostgreSQL from a URL, the (sync, async) engines of the checkpointer's
            one-statement writes: autocommit pools without pre-ping (see :meth:`raw_write`).
    """

    sync: Engine
    async_: AsyncEngine
    dialect: Dialect
    keeper: Any = field(default=None, repr=False)
    owned: tuple[bool, bool] = field(default=(True, True), repr=False)
    raw: tuple[Engine | None, AsyncEngine | None] = field(default=(None, None), repr=False)
    _sync_write: Engine = field(init=False, repr=False)
    _async_write: AsyncEngine = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False)
    _kept: list[Any] = field(init=False, repr=False)  # pooled DBAPI connections between raw writes
    _kept_pid: list[int] = field(init=False, repr=False)  # the process that keeps them
    _akept: list[tuple[asyncio.AbstractEventLoop, AsyncConnection]] = field(init=False, repr=False)
    _group: GroupWriter = field(init=False, repr=False)
    _alocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = field(
        init=False, repr=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_sync_write", self.sync.execution_options(**{WRITE_OPTION: True}))
        object.__setattr__(self, "_async_write", self.async_.execution_options(**{WRITE_OPTION: True}))
        object.__setattr__(self, "_lock", threading.Lock())
        object.__setattr__(self, "_kept", [])
        object.__setattr__(self, "_kept_pid", [])
        object.__setattr__(self, "_akept", [])
        object.__setattr__(self, "_group", GroupWriter(self._lock, self._sqlite_transaction))
        object.__setattr__(self, "_alocks", weakref.WeakKeyDictionary())

    @contextmanager
    def _serialized(self) -> Iterator[None]:
        # SQLite has one writer at a time: writers of this process queue here instead of polling
        # the file lock (SQLite's busy handler sleeps up to tens of ms between tries)
        if self.dialect != "sqlite":
            yield
            return
        with self._lock:
            yield

    @asynccontextmanager
    async def _aserialized(self) -> AsyncIterator[None]:
        if self.dialect != "sqlite":
            yield
            return
        loop = asyncio.get_running_loop()
        lock = self._alocks.get(loop)
        if lock is None:
            lock = self._alocks.setdefault(loop, asyncio.Lock())
        async with lock:
            yield

    @property
    def url(self) -> str:
        """The sync engine's URL with the password hidden, for messages."""
        return self.sync.url.render_as_string(hide_password=True)

    @property
    def is_memory(self) -> bool:
        """Whether this is an in-memory SQLite database (gone when the engines are disposed)."""
        return self.keeper is not None

    def _connect_errors(self) -> tuple[type[BaseException], ...]:
        """What a failed checkout raises: SQLAlchemy's wrappers, or (``raw_connection``) the
        driver's own errors."""
        dbapi = self.sync.dialect.loaded_dbapi
        return (
            sqlalchemy.exc.OperationalError,
            sqlalchemy.exc.InterfaceError,
            dbapi.OperationalError,
            dbapi.InterfaceError,
        )

    def _unavailable(self, exc: BaseException) -> DatabaseUnavailableError:
        orig = getattr(exc, "orig", None) or exc
        return DatabaseUnavailableError(
            f"cannot connect to {self.url!r}: {type(orig).__name__}: {orig}; {_HINTS[self.dialect]}"
        )

    def _checkout(self, engine: Engine) -> Any:
        """A pooled DBAPI connection of ``engine`` (``raw_connection`` raises the driver's own
        errors, not SQLAlchemy's wrappers)."""
        try:
            return engine.raw_connection()
        except self._connect_errors() as exc:
            raise self._unavailable(exc) from exc

    @contextmanager
    def _connect(self, engine: Engine) -> Iterator[Connection]:
        try:
            conn = engine.connect()
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as exc:
            raise self._unavailable(exc) from exc
        with conn:
            yield conn

    async def _aopen(self, engine: AsyncEngine) -> AsyncConnection:
        try:
            return await engine.connect()
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, OSError) as exc:
            raise self._unavailable(exc) from exc

    @asynccontextmanager
    async def _aconnect(self, engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
        conn = await self._aopen(engine)
        try:
            yield conn
        finally:
            await conn.close()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection in a write transaction, committed on exit (SQLite: ``BEGIN IMMEDIATE``)."""
        with self._serialized(), self._connect(self._sync_write) as conn, conn.begin():
            yield conn

    @property
    def raw_writes(self) -> bool:
        """Whether :meth:`raw_write` works for the sync engine (sqlite3 or psycopg 3)."""
        return self.sync.dialect.driver in _RAW_DRIVERS

    @property
    def raw_reads(self) -> bool:
        """Whether :meth:`raw_read` works: sqlite3, or PostgreSQL from a URL (its raw pool)."""
        return self.sync.dialect.driver == "pysqlite" or self.raw[0] is not None

    @property
    def araw_reads(self) -> bool:
        """Whether :meth:`araw_read` works (PostgreSQL from a URL: its raw pool)."""
        return self.raw[1] is not None

    @property
    def araw_writes(self) -> bool:
        """Whether :meth:`araw_write` works for the async engine (psycopg 3)."""
        return self.async_.dialect.driver == "psycopg"

    def is_disconnect(self, exc: BaseException) -> bool:
        """Whether an error means the connection was lost, so a retry gets a fresh one: a driver
        error from :meth:`raw_write`/:meth:`araw_write` (which renew their pool), or a SQLAlchemy
        error that invalidated its connection (:meth:`fast_read`)."""
        invalidated = isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated
        return invalidated or bool(getattr(exc, "thinkgraph_disconnect", False))

    def _raw_failed(self, engine: Engine | None, exc: BaseException, raw: Any) -> None:
        dialect = self.sync.dialect
        if isinstance(exc, dialect.loaded_dbapi.Error) and dialect.is_disconnect(exc, raw, None):
            raw.invalidate(exc)
            if engine is not None:  # our own raw pool: the other connections are as stale
                self._release_kept()
                engine.dispose(close=False)
            exc.thinkgraph_disconnect = True  # type: ignore[attr-defined]

    @contextmanager
    def raw_write(self, *, pipeline: bool = False) -> Iterator[Any]:
        """A DBAPI cursor for a one-shot write (statements from ``_rawsql``), committed on exit.

        SQLite: one ``BEGIN IMMEDIATE`` transaction, serialized in this process. PostgreSQL
        (psycopg 3): autocommit, so use it for plans whose statements may commit one by one, on a
        pool without pre-ping (see :meth:`is_disconnect`); with ``pipeline`` the statements go
        in one psycopg pipeline (one round trip; don't read rows then). Driver errors are raised
        as the driver raised them.
        """
        if self.dialect == "sqlite":
            # the writer lock before the connection, as in write(): with a one-connection pool the
            # other order deadlocks against a writer holding the lock and waiting for the connection
            with self._lock, self._sqlite_transaction() as cursor:
                yield cursor
            return
        with self._raw_connection() as raw:
            driver: Any = raw.driver_connection
            toggle = self.raw[0] is None  # our own raw pool is in autocommit mode already
            if toggle:
                driver.autocommit = True
            try:
                with driver.pipeline() if pipeline else contextlib.nullcontext(), driver.cursor() as cursor:
                    yield cursor
            finally:
                if toggle and not driver.closed:
                    driver.autocommit = False

    @contextmanager
    def _sqlite_transaction(self) -> Iterator[Any]:
        """A ``BEGIN IMMEDIATE`` transaction's cursor (call with the writer lock held)."""
        with self._raw_connection() as raw:
            driver: Any = raw.driver_connection
            cursor = driver.cursor()
            try:
                cursor.execute("BEGIN IMMEDIATE")
                yield cursor
                cursor.execute("COMMIT")
            finally:
                if driver.in_transaction:
                    driver.rollback()
                cursor.close()

    async def agroup_write(self, work: Callable[[Any], T]) -> T:
        """SQLite: run ``work(cursor)`` in a :meth:`raw_write` transaction shared with the other
        async writes waiting at that moment (group commit on a writer thread, see
        ``_group_writer``); return its result once committed."""
        return await self._group.run(work)

    @contextmanager
    def _raw_connection(self) -> Iterator[Any]:
        """A pooled DBAPI connection for :meth:`raw_write` (SQLite: of the write engine).

        The connections of SQLite and of our own PostgreSQL raw pool stay checked out between
        uses, kept by this process (see :meth:`_release_kept`): that saves the pool's checkout
        and reset on every write. A forked child never takes its parent's.
        """
        engine = self.raw[0] or self._sync_write
        keep = self.dialect == "sqlite" or self.raw[0] is not None
        raw = self._take_kept() if keep else None
        if raw is None:
            raw = self._checkout(engine)
        try:
            yield raw
        except BaseException as exc:
            self._raw_failed(self.raw[0], exc, raw)
            raise
        finally:
            if keep and raw.dbapi_connection is not None and _within_base_size(engine.pool):
                self._kept.append(raw)
            else:  # invalidated, or the pool lends its overflow: others may be waiting for it
                raw.close()

    def _take_kept(self) -> Any:
        pid = os.getpid()
        if self._kept_pid != [pid]:  # first use, or a forked child: not the parent's connections
            self._kept.clear()
            self._kept_pid[:] = [pid]
            return None
        try:
            return self._kept.pop()
        except IndexError:
            return None

    def _release_kept(self) -> None:
        """Return the connections this process keeps to their pool."""
        mine = self._kept_pid == [os.getpid()]
        while self._kept:
            try:
                raw = self._kept.pop()
            except IndexError:  # pragma: no cover - another thread took the last one
                break
            if mine:
                raw.close()

    @asynccontextmanager
    async def araw_write(self, *, pipeline: bool = False) -> AsyncIterator[Any]:
        """Async twin of :meth:`raw_write` for PostgreSQL with psycopg 3 (an async cursor)."""
        async with self._araw_connection() as raw:
            driver: Any = raw.driver_connection
            toggle = self.raw[1] is None
            if toggle:
                await driver.set_autocommit(True)
            try:
                batched = driver.pipeline() if pipeline else contextlib.nullcontext()
                async with batched, driver.cursor() as cursor:
                    yield cursor
            finally:
                if toggle and not driver.closed:
                    await driver.set_autocommit(False)

    @asynccontextmanager
    async def araw_read(self) -> AsyncIterator[Any]:
        """Async twin of :meth:`raw_read` for PostgreSQL (see :attr:`araw_reads`)."""
        async with self.araw_write() as cursor:
            yield cursor

    @asynccontextmanager
    async def _araw_connection(self) -> AsyncIterator[Any]:
        """Async twin of :meth:`_raw_connection`: our own raw pool's connections stay checked out
        between uses, kept for the event loop that opened them."""
        engine = self.raw[1] or self.async_
        keep = self.raw[1] is not None
        loop = asyncio.get_running_loop()
        conn = None
        while keep and self._akept and conn is None:
            kept_loop, kept = self._akept.pop()
            if kept_loop is loop:
                conn = kept
            # a connection of another (finished) event loop cannot be used or closed from here
        if conn is None:
            conn = await self._aopen(engine)
        raw = await conn.get_raw_connection()
        try:
            yield raw
        except BaseException as exc:
            self._raw_failed(None if self.raw[1] is None else self.raw[1].sync_engine, exc, raw)
            if getattr(exc, "thinkgraph_disconnect", False):
                await self._arelease_kept()
            raise
        finally:
            if keep and raw.dbapi_connection is not None and _within_base_size(engine.sync_engine.pool):
                self._akept.append((loop, conn))
            else:
                await conn.close()

    async def _arelease_kept(self) -> None:
        """Return the async connections kept for the running event loop to their pool."""
        loop = asyncio.get_running_loop()
        while self._akept:
            kept_loop, conn = self._akept.pop()
            if kept_loop is loop:
                await conn.close()

    @contextmanager
    def raw_read(self) -> Iterator[Any]:
        """A DBAPI cursor for prebuilt queries (see :attr:`raw_reads`).

        SQLite: in a read transaction (one consistent view). PostgreSQL: the autocommit cursor of
        :meth:`raw_write` (each statement sees its own snapshot, as in :meth:`fast_read`).
        """
        if self.dialect != "sqlite":
            with self.raw_write() as cursor:
                yield cursor
            return
        raw = self._checkout(self.sync)
        try:
            driver: Any = raw.driver_connection
            with contextlib.closing(driver.cursor()) as cursor:
                cursor.execute("BEGIN")
                try:
                    yield cursor
                finally:
                    if driver.in_transaction:
                        driver.rollback()
        finally:
            raw.close()

    @contextmanager
    def fast_read(self) -> Iterator[Connection]:
        """A connection for reads that may see each statement's own snapshot.

        PostgreSQL from a URL: the autocommit pool without pre-ping (at READ COMMITTED a
        transaction would give each statement its own snapshot too; autocommit saves the BEGIN,
        COMMIT and ping round trips; a lost connection raises with ``connection_invalidated``,
        to be retried). Elsewhere: :meth:`read`.
        """
        if self.raw[0] is None:
            with self.read() as conn:
                yield conn
            return
        with self._connect(self.raw[0]) as conn:
            yield conn

    @asynccontextmanager
    async def afast_read(self) -> AsyncIterator[AsyncConnection]:
        """Async twin of :meth:`fast_read`."""
        if self.raw[1] is None:
            async with self.aread() as conn:
                yield conn
            return
        async with self._aconnect(self.raw[1]) as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a read transaction (one consistent view on SQLite)."""
        with self._connect(self.sync) as conn, conn.begin():
            yield conn

    @asynccontextmanager
    async def awrite(self) -> AsyncIterator[AsyncConnection]:
        """Async twin of :meth:`write`."""
        async with self._aserialized(), self._aconnect(self._async_write) as conn, conn.begin():
            yield conn

    @asynccontextmanager
    async def aread(self) -> AsyncIterator[AsyncConnection]:
        """Async twin of :meth:`read`."""
        async with self._aconnect(self.async_) as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        """Close the pools of the engines this object created (an in-memory database is dropped)."""
        self._group.close()
        self._release_kept()
        if self.owned[0]:
            self.sync.dispose()
        if self.raw[0] is not None:
            self.raw[0].dispose()
        if self.keeper is not None:
            self.keeper.close()

    async def adispose(self) -> None:
        """Async twin of :meth:`dispose`; also closes the async engine's pool."""
        await self._arelease_kept()
        if self.owned[1]:
            await self.async_.dispose()
        if self.raw[1] is not None:
            await self.raw[1].dispose()
        self.dispose()


def _within_base_size(pool: Any) -> bool:
    """Whether no more connections are checked out of ``pool`` than it keeps open anyway."""
    try:
        return bool(pool.checkedout() <= pool.size())
    except AttributeError:  # a pool without a size (NullPool, StaticPool...): give them back
        return False
