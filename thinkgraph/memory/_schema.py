"""The tables of ``thinkgraph.memory``: one :data:`metadata` shared by every memory table.

Portable column types live here too, so every table compares ids the same way on every dialect:

* :class:`ExactId` / :func:`id_type` — a text id compared byte for byte and without padding
  (MySQL/MariaDB: ``VARBINARY``, because MariaDB's ``utf8mb4_bin`` takes ``"a"`` and ``"a "`` for
  the same id; PostgreSQL: ``COLLATE "C"``; SQLite compares binary by default). Keys in MySQL are
  limited to 3072 bytes, so id columns that take part in keys are at most 255 characters there.
* :func:`ascii_id_type` — short machine ids (checkpoint ids, versions, hashes): ``ascii_bin`` on
  MySQL, 1 byte per character in keys.
* :func:`blob_type` — ``LargeBinary`` (``LONGBLOB`` on MySQL, ``BYTEA`` on PostgreSQL).
* :func:`json_type` — ``JSONB`` on PostgreSQL, ``JSON`` elsewhere.
* :class:`UTCDateTime` — timestamps stored as naive UTC everywhere and read back timezone-aware.

Checkpoint namespaces can be long, so keys use :func:`ns_hash` (a fixed-length hash) and the text
itself is stored alongside. Table names start with ``tg_``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Dialect,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy import DateTime as _DateTime
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.types import JSON, TypeEngine

__all__ = [
    "NS_HASH_LENGTH",
    "ExactId",
    "UTCDateTime",
    "ascii_id_type",
    "blob_type",
    "checkpoint_blobs",
    "checkpoint_writes",
    "checkpoints",
    "id_type",
    "json_type",
    "metadata",
    "ns_hash",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)
"""Every table of ``thinkgraph.memory`` (checkpointer, store, ledger) is defined on this object."""

NS_HASH_LENGTH = 32
_MYSQL = ("mysql", "mariadb")


class _VarBinaryText(mysql.VARBINARY):
    """``VARBINARY`` that takes text parameters as they are (the server stores their UTF-8 bytes)."""

    def bind_processor(self, dialect: Dialect) -> None:
        return None


class ExactId(TypeDecorator[str]):
    """A text id compared case-sensitively, byte for byte and without padding on every dialect.

    ``VARCHAR COLLATE "C"`` on PostgreSQL (so ranges follow byte order and use the index),
    ``VARBINARY`` on MySQL/MariaDB (the server encodes the text parameters as UTF-8, since aiomysql
    cannot send ``bytes`` with PyMySQL 1.2), plain text on SQLite.
    """

    impl = String
    cache_ok = True

    def __init__(self, length: int = 255) -> None:
        super().__init__(length)
        self.length = length

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in _MYSQL:
            return dialect.type_descriptor(_VarBinaryText(self.length))
        if dialect.name == "postgresql":
            return dialect.type_descriptor(String(collation="C"))
        return dialect.type_descriptor(String())

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value).decode("utf-8")
        return value  # type: ignore[no-any-return]

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        # only MySQL/MariaDB return bytes (VARBINARY); elsewhere the driver's str is the id, and
        # skipping the call per value matters when ``list`` reads thousands of rows
        return super().result_processor(dialect, coltype) if dialect.name in _MYSQL else None


def id_type(length: int = 255) -> TypeEngine[str]:
    """A text id of up to ``length`` characters, compared byte for byte on every dialect."""
    return ExactId(length * 4)


def ascii_id_type(length: int = 64) -> TypeEngine[str]:
    """A short machine id (uuid, version, hash): binary comparison, one byte per character in keys."""
    return (
        String(length)
        .with_variant(String(length, collation="C"), "postgresql")
        .with_variant(mysql.VARCHAR(length, charset="ascii", collation="ascii_bin"), *_MYSQL)
    )


def blob_type() -> TypeEngine[bytes]:
    """Binary payloads of any size."""
    return LargeBinary().with_variant(mysql.LONGBLOB(), *_MYSQL)


def json_type() -> TypeEngine[Any]:
    """A JSON document (``JSONB`` on PostgreSQL, so containment queries use its operators)."""
    return JSON().with_variant(postgresql.JSONB(), "postgresql")


def text_type() -> TypeEngine[str]:
    """Unbounded text (``LONGTEXT`` in utf8mb4 on MySQL)."""
    return Text().with_variant(mysql.LONGTEXT(charset="utf8mb4", collation="utf8mb4_bin"), *_MYSQL)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC on every dialect and read back timezone-aware (UTC)."""

    impl = _DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in _MYSQL:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(_DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def _hash(checkpoint_ns: str) -> str:
    return hashlib.sha256(checkpoint_ns.encode("utf-8")).hexdigest()[:NS_HASH_LENGTH]


_ROOT_NS_HASH = _hash("")


def ns_hash(checkpoint_ns: str) -> str:
    """The fixed-length key for a checkpoint namespace (the namespace itself may be long)."""
    return _hash(checkpoint_ns) if checkpoint_ns else _ROOT_NS_HASH


checkpoints = Table(
    "tg_checkpoints",
    metadata,
    Column("thread_id", id_type(), nullable=False),
    Column("ns_hash", ascii_id_type(NS_HASH_LENGTH), nullable=False),
    Column("checkpoint_id", ascii_id_type(), nullable=False),
    Column("checkpoint_ns", text_type(), nullable=False),
    Column("parent_checkpoint_id", ascii_id_type(), nullable=True),
    Column("type", String(64), nullable=False),
    Column("checkpoint", blob_type(), nullable=False),
    Column("metadata", json_type(), nullable=False),
    Column("run_id", id_type(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("thread_id", "ns_hash", "checkpoint_id"),
    Index(None, "run_id"),
    Index(None, "created_at"),
)
"""One row per checkpoint, without channel values (see :data:`checkpoint_blobs`)."""

checkpoint_blobs = Table(
    "tg_checkpoint_blobs",
    metadata,
    Column("thread_id", id_type(), nullable=False),
    Column("ns_hash", ascii_id_type(NS_HASH_LENGTH), nullable=False),
    Column("channel", id_type(), nullable=False),
    Column("version", ascii_id_type(128), nullable=False),
    Column("type", String(64), nullable=False),
    Column("blob", blob_type(), nullable=True),
    PrimaryKeyConstraint("thread_id", "ns_hash", "channel", "version"),
)
"""One row per (channel, version): a value unchanged between checkpoints is stored once."""

checkpoint_writes = Table(
    "tg_checkpoint_writes",
    metadata,
    Column("thread_id", id_type(), nullable=False),
    Column("ns_hash", ascii_id_type(NS_HASH_LENGTH), nullable=False),
    Column("checkpoint_id", ascii_id_type(), nullable=False),
    Column("task_id", id_type(), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("task_path", text_type(), nullable=False),
    Column("channel", id_type(), nullable=False),
    Column("type", String(64), nullable=False),
    Column("blob", blob_type(), nullable=True),
    PrimaryKeyConstraint("thread_id", "ns_hash", "checkpoint_id", "task_id", "idx"),
)
"""Pending writes of the tasks of a checkpoint (sorted by task path, task id, index on read)."""
