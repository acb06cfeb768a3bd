"""Engines from plain URLs: drivers, SQLite tuning, shared in-memory databases, errors."""

from __future__ import annotations

import importlib.util
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import QueuePool

from thinkgraph.exceptions import ConfigError, DatabaseUnavailableError, MissingDependencyError
from thinkgraph.memory import Engines, create_engines, engines_for


@pytest.mark.parametrize(
    ("url", "sync_driver", "async_driver", "dialect"),
    [
        ("sqlite:///x.db", "pysqlite", "aiosqlite", "sqlite"),
        ("postgresql://u:secret@localhost/db", "psycopg", "psycopg_async", "postgresql"),
        ("postgres://u@localhost/db", "psycopg", "psycopg_async", "postgresql"),
        ("postgresql+psycopg://u@localhost/db", "psycopg", "psycopg_async", "postgresql"),
        ("mysql://u@localhost/db", "pymysql", "aiomysql", "mysql"),
        ("mariadb://u@localhost/db", "pymysql", "aiomysql", "mysql"),
        ("mysql+aiomysql://u@localhost/db", "pymysql", "aiomysql", "mysql"),
        ("sqlite+aiosqlite:///x.db", "pysqlite", "aiosqlite", "sqlite"),
    ],
)
def test_plain_urls_pick_the_installed_drivers(
    url: str,
    sync_driver: str,
    async_driver: str,
    dialect: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    engines = create_engines(url)
    try:
        assert engines.sync.dialect.driver == sync_driver
        assert engines.async_.dialect.driver == async_driver.removesuffix("_async")
        assert engines.async_.dialect.is_async
        assert engines.dialect == dialect
        assert "secret" not in engines.url
    finally:
        engines.dispose()


def test_a_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "psycopg" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(MissingDependencyError, match=r"thinkgraph\[postgres\]") as info:
        create_engines("postgresql://u@localhost/db")
    assert info.value.extra == "postgres"


def test_unsupported_urls_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="oracle"):
        create_engines("oracle://u@localhost/db")
    with pytest.raises(ConfigError, match="'int'"):
        engines_for(42)  # type: ignore[arg-type]


def test_sqlite_file_is_tuned_and_its_directory_created(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "x.db"
    engines = create_engines(f"sqlite:///{path}", busy_timeout=7)
    try:
        with engines.read() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 7000
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert path.exists()
    finally:
        engines.dispose()


def test_sqlite_writes_take_the_lock_at_begin(tmp_path: Path) -> None:
    """A write transaction is BEGIN IMMEDIATE: a second writer waits at BEGIN, not at COMMIT."""
    path = tmp_path / "x.db"
    engines = create_engines(f"sqlite:///{path}", busy_timeout=0.05)
    try:
        with engines.write() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        with engines.write():
            other = sqlite3.connect(path, timeout=0.05, isolation_level=None)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            other.close()
        with engines.read():  # a read transaction does not lock writers out
            other = sqlite3.connect(path, timeout=0.05, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            other.close()
    finally:
        engines.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
async def test_memory_database_is_shared_by_sync_async_and_threads(url: str) -> None:
    engines = create_engines(url)
    other = create_engines(url)
    try:
        assert engines.is_memory
        with engines.write() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        async with engines.awrite() as aconn:
            await aconn.execute(text("INSERT INTO t VALUES (2)"))
        seen: list[int] = []

        def read_in_thread() -> None:
            with engines.read() as conn:
                seen.append(conn.execute(text("SELECT count(*) FROM t")).scalar_one())

        thread = threading.Thread(target=read_in_thread)
        thread.start()
        thread.join()
        assert seen == [2]
        with other.read() as conn:  # another Engines object: another database
            assert conn.execute(text("SELECT count(*) FROM sqlite_master")).scalar_one() == 0
    finally:
        await engines.adispose()
        await other.adispose()


def test_unreachable_server_is_database_unavailable() -> None:
    engines = create_engines("postgresql://user:hunter2@127.0.0.1:1/db?connect_timeout=2")
    try:
        with pytest.raises(DatabaseUnavailableError, match="127.0.0.1:1") as info, engines.read():
            pass  # pragma: no cover - never reached
        assert "hunter2" not in str(info.value)
        assert "running" in str(info.value)
        for raw_path in (engines.raw_write, engines.raw_read):  # the checkpointer's hot paths
            with pytest.raises(DatabaseUnavailableError, match="127.0.0.1:1"), raw_path():
                pass  # pragma: no cover - never reached
    finally:
        engines.dispose()


async def test_unreachable_server_async_is_database_unavailable() -> None:
    engines = create_engines("postgresql://user:hunter2@127.0.0.1:1/db?connect_timeout=2")
    try:
        with pytest.raises(DatabaseUnavailableError, match="127.0.0.1:1") as info:
            async with engines.aread():
                pass  # pragma: no cover - never reached
        assert "hunter2" not in str(info.value)
        with pytest.raises(DatabaseUnavailableError, match="127.0.0.1:1"):
            async with engines.araw_read():
                pass  # pragma: no cover - never reached
    finally:
        await engines.adispose()


def test_unwritable_sqlite_path_is_database_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    engines = create_engines(f"sqlite:///{blocker / 'x.db'}")
    try:
        for path in (engines.write, engines.raw_write, engines.raw_read):
            with pytest.raises((DatabaseUnavailableError, OSError)), path():
                pass  # pragma: no cover - never reached
    finally:
        engines.dispose()


def test_raw_writes_on_a_pool_without_a_size_give_their_connection_back(tmp_path: Path) -> None:
    from sqlalchemy.pool import NullPool

    engine = create_engine(f"sqlite:///{tmp_path / 'n.db'}", poolclass=NullPool)
    engines = engines_for(engine)
    try:
        for value in (1, 2):
            with engines.raw_write() as cursor:
                if value == 1:
                    cursor.execute("CREATE TABLE t (x INTEGER)")
                cursor.execute("INSERT INTO t VALUES (?)", (value,))
        with engines.raw_read() as cursor:
            cursor.execute("SELECT x FROM t ORDER BY x")
            assert [row[0] for row in cursor.fetchall()] == [1, 2]
        assert not engines._kept  # nothing kept: a NullPool has no size to keep within
    finally:
        engines.dispose()
        engine.dispose()


async def test_engines_for_existing_engines_derives_the_twin(shared_db_url: str) -> None:
    made = create_engines(shared_db_url)
    try:
        assert engines_for(made) is made
        from_sync = engines_for(made.sync)
        from_async = engines_for(made.async_)
        for derived in (from_sync, from_async):
            assert isinstance(derived, Engines)
            assert derived.dialect == made.dialect
            with derived.write() as conn:
                conn.execute(text("CREATE TABLE IF NOT EXISTS t (x INTEGER)"))
            async with derived.aread() as aconn:
                assert (await aconn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
        assert from_sync.sync is made.sync and from_async.async_ is made.async_
        # engines given by the caller are not disposed by the derived object
        await from_sync.adispose()
        await from_async.adispose()
        with made.read() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        await made.adispose()


def test_engines_for_refuses_private_memory_engines() -> None:
    with pytest.raises(ConfigError, match="sqlite://"):
        engines_for(create_engine("sqlite://"))
    with pytest.raises(ConfigError):
        engines_for(create_async_engine("sqlite+aiosqlite://"))


def test_engines_for_shared_memory_uri_engine() -> None:
    url = "sqlite:///file:tg_shared_test?mode=memory&cache=shared&uri=true"
    engine = create_engine(url, poolclass=QueuePool)
    keeper = engine.connect()
    try:
        derived = engines_for(engine)
        with derived.write() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        derived.dispose()
    finally:
        keeper.close()
        engine.dispose()


async def _raw_writes_work(engines: Engines, first: int) -> list[int]:
    with engines.raw_write() as cursor:
        cursor.execute(f"INSERT INTO t VALUES ({first})")

    def failing_write() -> None:
        with engines.raw_write() as cursor:
            cursor.execute(f"INSERT INTO t VALUES ({first + 1})")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        failing_write()
    if engines.araw_writes:
        async with engines.araw_write() as acursor:
            await acursor.execute(f"INSERT INTO t VALUES ({first + 2})")
    with engines.write() as conn:  # the pooled connections are back in their normal mode
        conn.execute(text("INSERT INTO t VALUES (0)"))
        conn.rollback()
    async with engines.awrite() as aconn:
        await aconn.execute(text("INSERT INTO t VALUES (0)"))
        await aconn.rollback()
    with engines.read() as conn:
        return sorted(row[0] for row in conn.execute(text("SELECT x FROM t")))


async def test_raw_writes_commit_on_exit_and_roll_back_on_error(db_url: str) -> None:
    engines = create_engines(db_url)
    try:
        with engines.write() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        if not engines.raw_writes:  # MySQL/MariaDB: the checkpointer uses write transactions
            assert engines.dialect == "mysql"
            return
        # SQLite runs the statements in one transaction; PostgreSQL commits each one (autocommit)
        expected = [1] if engines.dialect == "sqlite" else [1, 2, 3]
        assert await _raw_writes_work(engines, 1) == expected
        if engines.dialect == "postgresql":  # on a user's engine: no pool of our own
            derived = engines_for(engines.sync)
            assert derived.raw == (None, None)
            assert await _raw_writes_work(derived, 11) == [*expected, 11, 12, 13]
            await derived.adispose()
    finally:
        await engines.adispose()
