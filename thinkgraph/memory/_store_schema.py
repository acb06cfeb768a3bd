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

from sqlalchemy import (
    Column,
    Double,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
)

from thinkgraph.memory._schema import ExactId, UTCDateTime, blob_type, json_type, metadata

__all__ = ["ID_BYTES", "ExactId", "store_items", "store_vectors"]  # ExactId: re-exported

ID_BYTES = 1024
"""Largest namespace (joined) or key, in UTF-8 bytes (two of them must fit a MySQL key)."""

_MYSQL = ("mysql", "mariadb")


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
