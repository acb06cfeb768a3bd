"""Schema migrations of ``thinkgraph.memory``: versioned Alembic scripts shipped in the package.

:func:`upgrade` brings a database to the newest schema this code knows; it is idempotent and
safe when several processes start at once (PostgreSQL advisory lock, MySQL ``GET_LOCK``, SQLite
``BEGIN IMMEDIATE``). A database migrated by a newer thinkgraph raises
:class:`~thinkgraph.exceptions.SchemaTooNewError` instead of being touched. No ``alembic.ini`` is
needed; ``thinkgraph db upgrade`` calls :func:`upgrade`.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import URL, Connection, Engine, text
from sqlalchemy.ext.asyncio import AsyncEngine

from thinkgraph.exceptions import SchemaTooNewError, SchemaTooOldError
from thinkgraph.memory._engine import Engines
from thinkgraph.memory._engine_create import engines_for

__all__ = [
    "SCRIPT_LOCATION",
    "VERSION_TABLE",
    "aschema_revision",
    "aupgrade",
    "check_schema",
    "head_revision",
    "schema_revision",
    "upgrade",
]

VERSION_TABLE = "tg_alembic_version"
SCRIPT_LOCATION = Path(__file__).parent / "_migrations"
_PG_LOCK_KEY = 0x7467_6D69_6772  # "tgmigr": one advisory lock for every thinkgraph migration
_MYSQL_LOCK = "thinkgraph_migrate"
_LOCK_TIMEOUT_S = 300

Target = str | URL | Engine | AsyncEngine | Engines


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    """The newest revision this code knows."""
    heads = _script().get_heads()
    return ",".join(sorted(heads))


def _current(connection: Connection) -> str | None:
    heads = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_heads()
    return ",".join(sorted(heads)) if heads else None


def _refuse_newer(current: str | None, url: str) -> None:
    if current is None:
        return
    script = _script()
    for revision in current.split(","):
        try:
            known = script.get_revision(revision)
        except CommandError:
            known = None
        if known is None:
            raise SchemaTooNewError(
                f"the database {url!r} has schema revision {revision!r}, newer than this thinkgraph "
                f"knows (newest: {head_revision()!r}); upgrade thinkgraph"
            )


def _upgrade_on(connection: Connection, dialect: str, url: str) -> str:
    """Upgrade inside the caller's write transaction, holding the migration lock."""
    if dialect == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    elif dialect == "mysql":
        got = connection.execute(
            text("SELECT GET_LOCK(:name, :timeout)"), {"name": _MYSQL_LOCK, "timeout": _LOCK_TIMEOUT_S}
        ).scalar()
        if got != 1:  # pragma: no cover - another process held the lock for 5 minutes
            raise SchemaTooOldError(f"could not take the migration lock on {url!r}; retry the upgrade")
    try:
        current = _current(connection)
        _refuse_newer(current, url)
        head = head_revision()
        if current != head:
            command.upgrade(_config(connection), "heads")
        return head
    finally:
        if dialect == "mysql":
            connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": _MYSQL_LOCK})


def upgrade(target: Target) -> str:
    """Bring the database to the newest schema; safe to call from several processes at once.

    Args:
        target: a database URL, an engine, or :class:`Engines`.

    Returns:
        The schema revision of the database afterwards.

    Raises:
        SchemaTooNewError: the database was migrated by a newer thinkgraph.
        DatabaseUnavailableError: the database cannot be reached.
    """
    engines = engines_for(target)
    try:
        head = head_revision()
        with engines.read() as connection:
            current = _current(connection)
        _refuse_newer(current, engines.url)
        if current == head:
            return head
        with engines.write() as connection:
            return _upgrade_on(connection, engines.dialect, engines.url)
    finally:
        if engines is not target:
            engines.dispose()


async def aupgrade(target: Target) -> str:
    """Async twin of :func:`upgrade`."""
    engines = engines_for(target)
    try:
        head = head_revision()
        async with engines.aread() as connection:
            current = await connection.run_sync(_current)
        _refuse_newer(current, engines.url)
        if current == head:
            return head
        async with engines.awrite() as connection:
            return await connection.run_sync(_upgrade_on, engines.dialect, engines.url)
    finally:
        if engines is not target:
            await engines.adispose()


def schema_revision(target: Target) -> str | None:
    """The database's current schema revision, or ``None`` when it has never been migrated."""
    engines = engines_for(target)
    try:
        with engines.read() as connection:
            return _current(connection)
    finally:
        if engines is not target:
            engines.dispose()


async def aschema_revision(target: Target) -> str | None:
    """Async twin of :func:`schema_revision`."""
    engines = engines_for(target)
    try:
        async with engines.aread() as connection:
            return await connection.run_sync(_current)
    finally:
        if engines is not target:
            await engines.adispose()


def check_schema(current: str | None, url: str) -> None:
    """Raise unless ``current`` is this code's head revision (the error says what to do)."""
    _refuse_newer(current, url)
    if current != head_revision():
        raise SchemaTooOldError(
            f"the database {url!r} has schema revision {current!r}, older than this thinkgraph needs "
            f"({head_revision()!r}); run 'thinkgraph db upgrade' or call setup()"
        )
