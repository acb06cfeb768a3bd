"""Sync and async SQLAlchemy engines for one database, created from a plain URL or an engine.

A user writes ``sqlite:///file.db``, ``postgresql://user@host/db`` or ``mysql://user@host/db``;
:func:`create_engines` picks the installed drivers for both halves (psycopg 3 for PostgreSQL,
PyMySQL + aiomysql for MySQL/MariaDB, sqlite3 + aiosqlite for SQLite), tunes SQLite for several
writers (WAL, busy timeout, foreign keys, ``BEGIN IMMEDIATE`` for writes) and shares one in-memory
SQLite database between every connection of the same :class:`~thinkgraph.memory.Engines`.
"""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy.exc
from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, QueuePool

from thinkgraph.exceptions import ConfigError, MissingDependencyError
from thinkgraph.memory._engine import WRITE_OPTION, Dialect, Engines

__all__ = ["create_engines", "engines_for"]

# backend -> (default sync driver, default async driver, extra, modules the drivers need)
_DEFAULT_DRIVERS: dict[str, tuple[str, str]] = {
    "sqlite": ("pysqlite", "aiosqlite"),
    "postgresql": ("psycopg", "psycopg_async"),
    "mysql": ("pymysql", "aiomysql"),
    "mariadb": ("pymysql", "aiomysql"),
}
_ASYNC_DRIVERS = frozenset({"aiosqlite", "psycopg_async", "asyncpg", "aiomysql", "asyncmy"})
_DRIVER_MODULES: dict[str, str] = {
    "pysqlite": "sqlite3",
    "aiosqlite": "aiosqlite",
    "psycopg": "psycopg",
    "psycopg_async": "psycopg",
    "psycopg2": "psycopg2",
    "asyncpg": "asyncpg",
    "pg8000": "pg8000",
    "pymysql": "pymysql",
    "mysqldb": "MySQLdb",
    "aiomysql": "aiomysql",
    "asyncmy": "asyncmy",
}
_EXTRAS = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql", "sqlite": "sqlite"}


def _backend(url: URL) -> str:
    backend = url.get_backend_name()
    if backend in ("postgres", "postgresql"):
        return "postgresql"
    if backend not in _DEFAULT_DRIVERS:
        raise ConfigError(
            f"unsupported database URL {url.render_as_string(hide_password=True)!r}: "
            "use sqlite:///path.db, postgresql://user@host/db or mysql://user@host/db"
        )
    return backend


def _dialect_of(backend: str) -> Dialect:
    if backend == "sqlite":
        return "sqlite"
    if backend == "postgresql":
        return "postgresql"
    return "mysql"


def _require(driver: str, backend: str) -> None:
    module = _DRIVER_MODULES.get(driver, driver)
    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(f"a {backend} database with driver {driver!r}", _EXTRAS[backend])


def _twin_urls(url: URL) -> tuple[URL, URL]:
    """The (sync, async) URLs for ``url``: an explicit driver is kept for its own half."""
    backend = _backend(url)
    default_sync, default_async = _DEFAULT_DRIVERS[backend]
    driver = url.get_driver_name() if "+" in url.drivername else None
    if driver is None:
        sync_driver, async_driver = default_sync, default_async
    elif driver in _ASYNC_DRIVERS:
        sync_driver, async_driver = default_sync, driver
    elif driver == "psycopg":
        sync_driver, async_driver = "psycopg", "psycopg_async"
    else:
        sync_driver, async_driver = driver, default_async
    _require(sync_driver, backend)
    _require(async_driver, backend)
    return (
        url.set(drivername=f"{backend}+{sync_driver}"),
        url.set(drivername=f"{backend}+{async_driver}"),
    )


def _is_memory(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or "mode=memory" in database or url.query.get("mode") == "memory"


def _on_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "BEGIN")


def _sqlite_listeners(engine: Engine, busy_timeout_ms: int, wal: bool, path: Path | None) -> None:
    def on_do_connect(dialect: Any, conn_rec: Any, cargs: Any, cparams: Any) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # the driver must not open transactions itself: we emit BEGIN / BEGIN IMMEDIATE ourselves
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_timeout_ms:d}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if wal:
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
                # copy the WAL back into the database every 10000 pages (40 MB) rather than 1000:
                # a page rewritten by many commits is copied once, and writers stall less often
                cursor.execute("PRAGMA wal_autocheckpoint = 10000")
        finally:
            cursor.close()

    if not event.contains(engine, "begin", _on_begin):
        event.listen(engine, "do_connect", on_do_connect)
        event.listen(engine, "connect", on_connect)
        event.listen(engine, "begin", _on_begin)


def _escape_bytes_too(connection: Any) -> Any:
    escape = connection.escape

    def escaped(obj: Any) -> Any:
        if isinstance(obj, bytes | bytearray):
            return f"_binary X'{bytes(obj).hex()}'"
        return escape(obj)

    return escaped


def _on_aiomysql_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # aiomysql 0.3 escapes bytes with a PyMySQL helper that PyMySQL 1.2 replaced by a string
    # (PyMySQL issue 1274): escape bytes on this connection the way PyMySQL itself does.
    raw = getattr(dbapi_connection, "_connection", None)
    if raw is not None and not getattr(raw, "_thinkgraph_escape", False):
        raw.escape = _escape_bytes_too(raw)
        raw._thinkgraph_escape = True


def _fix_aiomysql_bytes(engine: AsyncEngine) -> None:
    if engine.dialect.driver == "aiomysql" and not event.contains(
        engine.sync_engine, "connect", _on_aiomysql_connect
    ):
        event.listen(engine.sync_engine, "connect", _on_aiomysql_connect)


def _sqlite_file(url: URL) -> Path | None:
    database = url.database or ""
    if _is_memory(url) or database.startswith("file:"):
        return None
    return Path(database).expanduser().absolute()


def create_engines(url: str | URL, *, busy_timeout: float = 30.0, **options: Any) -> Engines:
    """Create the sync and async engines for a database URL.

    Args:
        url: a SQLAlchemy URL as a user writes it (``sqlite:///file.db``, ``sqlite://`` for memory,
            ``postgresql://user@host/db``, ``mysql://user@host/db``, ``mariadb://...``). A driver
            named in the URL (``postgresql+psycopg://``) is honoured.
        busy_timeout: SQLite only: seconds a writer waits for another writer's lock.
        **options: passed to both ``create_engine`` and ``create_async_engine`` (``echo``,
            ``pool_size``...).

    Returns:
        The engines, sharing one database (an in-memory SQLite database included).

    Raises:
        MissingDependencyError: the driver for the URL is not installed (names the extra).
        ConfigError: the URL is not a supported database.
    """
    parsed = make_url(url) if isinstance(url, str) else url
    sync_url, async_url = _twin_urls(parsed)
    backend = _backend(parsed)
    dialect = _dialect_of(backend)
    keeper = None
    if dialect == "sqlite":
        memory = _is_memory(parsed)
        if memory and (parsed.database or "") in ("", ":memory:"):
            # one named in-memory database per Engines, shared by every connection of both engines
            name = f"file:/tg_{uuid.uuid4().hex}"
            sync_url = sync_url.set(database=name, query={"vfs": "memdb", "uri": "true"})
            async_url = async_url.set(database=name, query={"vfs": "memdb", "uri": "true"})
        path = _sqlite_file(parsed)
        sync_options = {"poolclass": QueuePool, **options}
        async_options = {"poolclass": AsyncAdaptedQueuePool, **options}
        if "check_same_thread" not in dict(options.get("connect_args", {})):
            sync_options["connect_args"] = {"check_same_thread": False, **options.get("connect_args", {})}
        sync = create_engine(sync_url, **sync_options)
        async_ = create_async_engine(async_url, **async_options)
        for engine in (sync, async_.sync_engine):
            _sqlite_listeners(engine, int(busy_timeout * 1000), not memory, path)
        engines = Engines(sync, async_, dialect)
        if memory:
            try:
                keeper = sync.connect()
            except sqlalchemy.exc.OperationalError as exc:  # pragma: no cover - memory cannot fail
                raise engines._unavailable(exc) from exc
            object.__setattr__(engines, "keeper", keeper)
        return engines
    server_options: dict[str, Any] = {"pool_pre_ping": True}
    if dialect == "mysql":
        server_options.update(pool_recycle=3600, isolation_level="READ COMMITTED")
    server_options.update(options)
    async_ = create_async_engine(async_url, **server_options)
    _fix_aiomysql_bytes(async_)
    engines = Engines(create_engine(sync_url, **server_options), async_, dialect)
    # the checkpointer's one-statement writes run on pools without pre-ping (a round trip per
    # checkout): a lost connection is retried instead (Engines.is_disconnect)
    raw_options = {**server_options, "pool_pre_ping": False, "isolation_level": "AUTOCOMMIT"}
    raw = (
        create_engine(sync_url, **raw_options) if engines.raw_writes else None,
        create_async_engine(async_url, **raw_options) if engines.araw_writes else None,
    )
    object.__setattr__(engines, "raw", raw)
    return engines


def engines_for(x: str | URL | Engine | AsyncEngine | Engines, **options: Any) -> Engines:
    """Engines for whatever the user gave: a URL, an existing engine (its twin is derived) or Engines.

    Raises:
        ConfigError: an engine on a private in-memory SQLite database (pass the URL instead).
    """
    if isinstance(x, Engines):
        return x
    if isinstance(x, str | URL):
        return create_engines(x, **options)
    if isinstance(x, AsyncEngine):
        given_sync, given_async = None, x
        url = x.url
    elif isinstance(x, Engine):
        given_sync, given_async = x, None
        url = x.url
    else:
        raise ConfigError(
            f"expected a database URL, an Engine, an AsyncEngine or Engines, got {type(x).__name__!r}"
        )
    backend = _backend(url)
    dialect = _dialect_of(backend)
    if dialect == "sqlite" and (url.database or "") in ("", ":memory:"):
        raise ConfigError(
            f"an engine on a private in-memory SQLite database ({url.render_as_string()!r}) cannot be "
            "shared with its async twin: pass the URL 'sqlite://' instead of the engine"
        )
    sync_url, async_url = _twin_urls(url)
    server_options: dict[str, Any] = {} if dialect == "sqlite" else {"pool_pre_ping": True}
    server_options.update(options)
    sync_options = {"poolclass": QueuePool, **server_options} if dialect == "sqlite" else server_options
    async_options = (
        {"poolclass": AsyncAdaptedQueuePool, **server_options} if dialect == "sqlite" else server_options
    )
    sync = given_sync or create_engine(sync_url.render_as_string(hide_password=False), **sync_options)
    async_ = given_async or create_async_engine(
        async_url.render_as_string(hide_password=False), **async_options
    )
    _fix_aiomysql_bytes(async_)
    if dialect == "sqlite":
        memory = _is_memory(url)
        for engine in (sync, async_.sync_engine):
            _sqlite_listeners(engine, 30_000, not memory, _sqlite_file(url))
    return Engines(sync, async_, dialect, owned=(given_sync is None, given_async is None))
