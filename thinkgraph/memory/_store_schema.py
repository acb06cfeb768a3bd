"""Tables of :class:`~thinkgraph.memory.SQLStore`, defined on the shared :data:`metadata`.

* ``tg_store_items``: one row per item. The namespace is stored as its labels joined by ``"."``
  (labels cannot contain a period), so a prefix search is a range over the leading column of the
  primary key: ``prefix = 'a.b' OR (prefix >= 'a.b.' AND prefix < 'a.b/')``. Expiry is kept as
  epoch seconds so refreshing a TTL is plain arithmetic on every dialect.
* ``tg_store_vectors``: the embeddings of an item, one row per indexed text, deleted with the item.

Ids (namespace, key) use :class:`ExactId`: compared byte for byte on every dialect. On MySQL and
MariaDB that is ``VARBINARY``: MariaDB's ``utf8mb4_bin`` collation pads with spaces, so it would
take ``"a"`` and ``"a "`` for the same key.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Column,
    Dialect,
    Double,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    TypeDecorator,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeEngine

from thinkgraph.memory._schema import UTCDateTime, blob_type, json_type, metadata

__all__ = ["ID_BYTES", "ExactId", "store_items", "store_vectors"]

ID_BYTES = 1024
"""Largest namespace (joined) or key, in UTF-8 bytes (two of them must fit a MySQL key)."""

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


store_items = Table(
    "tg_store_items",
    metadata,
    Column("prefix", ExactId(ID_BYTES), nullable=False),
    Column("key", ExactId(ID_BYTES), nullable=False),
    Column("value", json_type(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("expires_at", Double(), nullable=True),
    Column("ttl_minutes", Double(), nullable=True),
    PrimaryKeyConstraint("prefix", "key"),
    Index(None, "expires_at"),
)
"""One row per item; ``expires_at`` is epoch seconds (``NULL``: never expires)."""

store_vectors = Table(
    "tg_store_vectors",
    metadata,
    Column("prefix", ExactId(ID_BYTES), nullable=False),
    Column("key", ExactId(ID_BYTES), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("field", String(1024), nullable=False),
    Column("embedding", blob_type(), nullable=False),
    PrimaryKeyConstraint("prefix", "key", "idx"),
    ForeignKeyConstraint(
        ["prefix", "key"], ["tg_store_items.prefix", "tg_store_items.key"], ondelete="CASCADE"
    ),
)
"""One row per embedded text of an item (little-endian float64 array), removed with the item."""
