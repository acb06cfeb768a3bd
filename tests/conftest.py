"""Shared fixtures: the network guard and databases on every dialect.

Database fixtures give each test a fresh, uniquely named database that is dropped afterwards.
Outside CI an unreachable PostgreSQL or MariaDB skips its cases with the reason; with
``CI=true`` it fails them, so a green CI proves every dialect.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest

from thinkgraph._litellm import load_litellm
from thinkgraph.testing import no_model_requests

# The fixtures thinkgraph ships for its users' tests (``fake_provider``) serve ours too.
pytest_plugins = ["thinkgraph.testing.pytest_plugin"]

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# Tests are offline: litellm must not try to download tokenizers (it would stall on the guard).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
PG_HOST, PG_PORT, PG_USER, PG_ADMIN_DB = "127.0.0.1", 5432, "postgres", "test"
MY_HOST, MY_PORT, MY_USER, MY_ADMIN_DB = "127.0.0.1", 3306, "root", "test"

ALL_DIALECTS = ["sqlite-file", "sqlite-memory", "postgresql", "mariadb"]
FILE_DIALECTS = ["sqlite-file", "postgresql", "mariadb"]
SERVER_DIALECTS = ["postgresql", "mariadb"]


@pytest.fixture(scope="session")
def litellm() -> ModuleType:
    """litellm, imported once per session (it takes seconds)."""
    module = load_litellm()
    module.suppress_debug_info = True  # type: ignore[attr-defined]  # no "Give Feedback" noise in test logs
    return module


@pytest.fixture(autouse=True)
def _no_real_network() -> Iterator[None]:
    """Every test runs with non-loopback connections forbidden."""
    with no_model_requests():
        yield


def _unreachable(what: str, exc: BaseException) -> None:
    message = f"{what} is unreachable ({type(exc).__name__}: {exc})"
    if IN_CI:
        pytest.fail(message + "; CI=true requires every dialect", pytrace=False)
    pytest.skip(message)


def _unique_name() -> str:
    return f"tg_{uuid.uuid4().hex[:16]}"


@contextmanager
def postgres_database() -> Iterator[str]:
    """Create a uniquely named PostgreSQL database; yield its plain URL; drop it."""
    import psycopg

    admin = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={PG_ADMIN_DB} connect_timeout=5"
    name = _unique_name()
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        _unreachable(f"PostgreSQL at {PG_HOST}:{PG_PORT}", exc)
    try:
        yield f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def mariadb_database() -> Iterator[str]:
    """Create a uniquely named MariaDB database; yield its plain URL; drop it."""
    import pymysql

    name = _unique_name()

    def admin() -> pymysql.connections.Connection:  # type: ignore[type-arg]
        return pymysql.connect(
            host=MY_HOST, port=MY_PORT, user=MY_USER, database=MY_ADMIN_DB, connect_timeout=5, autocommit=True
        )

    try:
        conn = admin()
    except pymysql.err.OperationalError as exc:
        _unreachable(f"MariaDB at {MY_HOST}:{MY_PORT}", exc)
    with conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    try:
        yield f"mysql://{MY_USER}@{MY_HOST}:{MY_PORT}/{name}"
    finally:
        with admin() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


@contextmanager
def database(dialect: str, tmp_path: Path) -> Iterator[str]:
    """A fresh database of ``dialect`` (one of ``ALL_DIALECTS``) as a plain SQLAlchemy URL."""
    if dialect == "sqlite-file":
        yield f"sqlite:///{tmp_path / f'{_unique_name()}.db'}"
    elif dialect == "sqlite-memory":
        yield "sqlite:///:memory:"
    elif dialect == "postgresql":
        with postgres_database() as url:
            yield url
    elif dialect == "mariadb":
        with mariadb_database() as url:
            yield url
    else:  # pragma: no cover - a typo in a test
        raise AssertionError(f"unknown dialect {dialect!r}")


@pytest.fixture(params=ALL_DIALECTS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database on every dialect, SQLite in-memory included."""
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(params=FILE_DIALECTS)
def shared_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database that several processes can open (no in-memory SQLite)."""
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(params=SERVER_DIALECTS)
def server_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh PostgreSQL or MariaDB database."""
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database."""
    with postgres_database() as url:
        yield url


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """A fresh MariaDB database."""
    with mariadb_database() as url:
        yield url
