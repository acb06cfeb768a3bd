"""The statements of :class:`~thinkgraph.memory.SQLStore`, written once for sync and async.

A batch is two generators: :func:`read_ops` (gets, searches, namespace listings; one query per
chunk of gets, one or two per search, one per listing) and :func:`write_ops` (TTL refreshes,
deletes and upserts: a fixed number of statements per chunk of up to :data:`CHUNK` items). Each
yields a statement and receives its rows (or row count); :func:`drive` and :func:`adrive` run
them on a sync or async connection, so both APIs issue exactly the same SQL.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from langgraph.store.base import GetOp, Item, ListNamespacesOp, MatchCondition, SearchItem, SearchOp
from sqlalchemy import Connection, Executable
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from thinkgraph.memory._store_filter import CompiledFilter, matches
from thinkgraph.memory._store_schema import store_items, store_vectors

__all__ = ["CHUNK", "Plan", "Upsert", "adrive", "drive", "read_ops", "sweep_op", "write_ops"]

T = TypeVar("T")
# a statement, or one with its bound values (one run per row for a list)
Step = Executable | tuple[Executable, list[dict[str, Any]]] | tuple[Executable, dict[str, Any]]
Ops = Generator[Step, Any, T]
Key = tuple[str, str]  # (joined namespace, key)

CHUNK = 500
"""Items per statement in batched gets, deletes and upserts (keeps SQLite under its parameter cap)."""

_ITEM_COLUMNS = (
    store_items.c.prefix,
    store_items.c.key,
    store_items.c.value,
    store_items.c.created_at,
    store_items.c.updated_at,
    store_items.c.ttl_minutes,
)


def _answer(statement: Executable, result: Any) -> Any:
    """What a step gets back: the rows of a query, else the result (row count, inserted key)."""
    if result.returns_rows and not getattr(statement, "is_insert", False):
        return result.fetchall()
    return result


def drive(conn: Connection, ops: Ops[T]) -> T:
    """Run ``ops`` on a sync connection."""
    try:
        step = next(ops)
        while True:
            statement, rows = step if isinstance(step, tuple) else (step, None)
            result = conn.execute(statement, rows)
            step = ops.send(_answer(statement, result))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def adrive(conn: AsyncConnection, ops: Ops[T]) -> T:
    """Run ``ops`` on an async connection."""
    try:
        step = next(ops)
        while True:
            statement, rows = step if isinstance(step, tuple) else (step, None)
            result = await conn.execute(statement, rows)
            step = ops.send(_answer(statement, result))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


def _chunks(keys: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(keys), CHUNK):
        yield keys[start : start + CHUNK]


def _key_in(table: sa.Table, keys: Sequence[Key]) -> ColumnElement[bool]:
    return sa.tuple_(table.c.prefix, table.c.key).in_(keys)


def _visible(now: float) -> ColumnElement[bool]:
    return sa.or_(store_items.c.expires_at.is_(None), store_items.c.expires_at > now)


def _under(labels: Sequence[str]) -> ColumnElement[bool]:
    """Namespaces equal to or below ``labels``: a range on the primary key's leading column."""
    if not labels:
        return sa.true()
    joined = ".".join(labels)
    column = store_items.c.prefix
    return sa.or_(column == joined, sa.and_(column >= joined + ".", column < joined + "/"))


def _item(row: Any, cls: type[Item] = Item, score: float | None = None) -> Any:
    namespace = tuple(row.prefix.split("."))
    if cls is SearchItem:
        return SearchItem(namespace, row.key, row.value, row.created_at, row.updated_at, score)
    return Item(
        value=row.value,
        key=row.key,
        namespace=namespace,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


# --- vectors ------------------------------------------------------------------------------


def pack(vector: Sequence[float]) -> bytes:
    """An embedding as little-endian float64."""
    return struct.pack(f"<{len(vector)}d", *vector)


def _pack(dialect: str, vector: Sequence[float]) -> bytes | str:
    return pack(vector).hex() if dialect == "mysql" else pack(vector)


def unpack(blob: bytes) -> tuple[float, ...]:
    """The inverse of :func:`pack`."""
    return struct.unpack(f"<{len(blob) // 8}d", blob)


def cosine(query: Sequence[float], query_norm: float, vector: Sequence[float]) -> float:
    """Cosine similarity (0.0 when either vector is zero, as LangGraph's stores do)."""
    norm = math.sqrt(math.fsum(x * x for x in vector))
    if norm == 0.0 or query_norm == 0.0:
        return 0.0
    return math.fsum(a * b for a, b in zip(query, vector, strict=False)) / (norm * query_norm)


# --- reads --------------------------------------------------------------------------------


@dataclass(slots=True)
class Plan:
    """The read side of one batch, with the answers filled in by :func:`read_ops`."""

    gets: list[tuple[int, GetOp]] = field(default_factory=list)
    searches: list[tuple[int, SearchOp, CompiledFilter]] = field(default_factory=list)
    listings: list[tuple[int, ListNamespacesOp]] = field(default_factory=list)
    query_vectors: dict[str, list[float]] = field(default_factory=dict)
    results: dict[int, Any] = field(default_factory=dict)
    refresh: set[Key] = field(default_factory=set)


def _get_ops(plan: Plan, now: float) -> Ops[None]:
    wanted = sorted({(".".join(op.namespace), op.key) for _, op in plan.gets})
    found: dict[Key, Any] = {}
    for chunk in _chunks(wanted):
        rows = yield sa.select(*_ITEM_COLUMNS).where(_key_in(store_items, chunk), _visible(now))
        found.update({(row.prefix, row.key): row for row in rows})
    for index, op in plan.gets:
        row = found.get((".".join(op.namespace), op.key))
        plan.results[index] = None if row is None else _item(row)
        if row is not None and op.refresh_ttl and row.ttl_minutes is not None:
            plan.refresh.add((row.prefix, row.key))


def _ranked(op: SearchOp, rows: list[Any], vectors: dict[Key, list[bytes]], query: list[float]) -> list[Any]:
    """Items with vectors by best cosine score (stable), then the others; paged."""
    query_norm = math.sqrt(math.fsum(x * x for x in query))
    scored: list[tuple[float, int, Any]] = []
    unscored: list[Any] = []
    for position, row in enumerate(rows):
        blobs = vectors.get((row.prefix, row.key))
        if blobs:
            best = max(cosine(query, query_norm, unpack(blob)) for blob in blobs)
            scored.append((best, position, row))
        else:
            unscored.append(row)
    scored.sort(key=lambda entry: (-entry[0], entry[1]))
    ranked = [_item(row, SearchItem, score) for score, _, row in scored]
    ranked += [_item(row, SearchItem) for row in unscored]
    return ranked[op.offset : op.offset + op.limit]


def _search_ops(plan: Plan, index: int, op: SearchOp, compiled: CompiledFilter, now: float) -> Ops[None]:
    where = [_visible(now), _under(op.namespace_prefix), *compiled.conditions]
    query = plan.query_vectors.get(op.query) if op.query else None
    statement = (
        sa.select(*_ITEM_COLUMNS)
        .where(*where)
        .order_by(store_items.c.updated_at.desc(), store_items.c.prefix, store_items.c.key)
    )
    paged_in_sql = compiled.exact and query is None
    if paged_in_sql:
        statement = statement.limit(op.limit).offset(op.offset)
    rows = yield statement
    if not compiled.exact:
        rows = [row for row in rows if matches(row.value, op.filter)]
    if query is not None:
        joined = store_vectors.join(
            store_items,
            sa.and_(store_vectors.c.prefix == store_items.c.prefix, store_vectors.c.key == store_items.c.key),
        )
        vector_rows = yield (
            sa.select(store_vectors.c.prefix, store_vectors.c.key, store_vectors.c.embedding)
            .select_from(joined)
            .where(*where)
        )
        vectors: dict[Key, list[bytes]] = {}
        for vector_row in vector_rows:
            vectors.setdefault((vector_row.prefix, vector_row.key), []).append(bytes(vector_row.embedding))
        page = _ranked(op, rows, vectors, query)
    else:
        window = rows if paged_in_sql else rows[op.offset : op.offset + op.limit]
        page = [_item(row, SearchItem) for row in window]
    plan.results[index] = page
    if op.refresh_ttl:
        by_key = {(row.prefix, row.key): row for row in rows}
        for item in page:
            key = (".".join(item.namespace), item.key)
            if by_key[key].ttl_minutes is not None:
                plan.refresh.add(key)


def _matches_condition(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    if condition.match_type == "prefix":
        pairs = zip(namespace, path, strict=False)
    else:
        pairs = zip(reversed(namespace), reversed(path), strict=False)
    return all(wanted == "*" or label == wanted for label, wanted in pairs)


def _literal_prefix(op: ListNamespacesOp) -> list[str]:
    """The labels every listed namespace must start with (the longest wildcard-free prefix)."""
    for condition in op.match_conditions or ():
        if condition.match_type == "prefix":
            labels: list[str] = []
            for label in condition.path:
                if label == "*":
                    break
                labels.append(label)
            return labels
    return []


def _list_ops(plan: Plan, index: int, op: ListNamespacesOp, now: float) -> Ops[None]:
    rows = yield (
        sa.select(store_items.c.prefix).distinct().where(_visible(now), _under(_literal_prefix(op)))
    )
    namespaces = {tuple(row.prefix.split(".")) for row in rows}
    conditions = op.match_conditions or ()
    kept = {ns for ns in namespaces if all(_matches_condition(c, ns) for c in conditions)}
    if op.max_depth is not None:
        kept = {ns[: op.max_depth] for ns in kept}
    plan.results[index] = sorted(kept)[op.offset : op.offset + op.limit]


def read_ops(plan: Plan, now: float) -> Ops[Plan]:
    """Answer the gets, searches and listings of ``plan`` as of ``now`` (epoch seconds)."""
    if plan.gets:
        yield from _get_ops(plan, now)
    for index, op, compiled in plan.searches:
        yield from _search_ops(plan, index, op, compiled, now)
    for index, listing in plan.listings:
        yield from _list_ops(plan, index, listing, now)
    return plan


# --- writes -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Upsert:
    """One item to write, with its embeddings as ``(field, vector)`` pairs."""

    prefix: str
    key: str
    value: dict[str, Any]
    ttl_minutes: float | None
    vectors: Sequence[tuple[str, Sequence[float]]]


def _upsert_statement(dialect: str, now_ts: float) -> Executable:
    """An upsert of one item, executed for many (``executemany``: batched by SQLAlchemy)."""
    table = store_items
    # an expired row that was not swept yet is replaced by a new item: it gets a new created_at
    # (inlined: PyMySQL's executemany cannot take parameters after VALUES)
    now_literal: ColumnElement[float] = sa.literal_column(repr(float(now_ts)), sa.Double())
    expired = sa.and_(table.c.expires_at.is_not(None), table.c.expires_at <= now_literal)
    if dialect == "mysql":
        statement = mysql.insert(table)
        new = statement.inserted
        # MySQL evaluates assignments left to right: created_at must look at the old expires_at
        return statement.on_duplicate_key_update(
            [
                ("created_at", sa.case((expired, new.created_at), else_=table.c.created_at)),
                ("value", new.value),
                ("updated_at", new.updated_at),
                ("expires_at", new.expires_at),
                ("ttl_minutes", new.ttl_minutes),
            ]
        )
    upsert: Any = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    new = upsert.excluded
    return upsert.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[table.c.prefix, table.c.key],
        set_={
            "created_at": sa.case((expired, new.created_at), else_=table.c.created_at),
            "value": new.value,
            "updated_at": new.updated_at,
            "expires_at": new.expires_at,
            "ttl_minutes": new.ttl_minutes,
        },
    )


def _vector_statement(dialect: str) -> Executable:
    if dialect == "mysql":
        # aiomysql 0.3 cannot send bytes with PyMySQL 1.2 unless patched: let MySQL decode hex
        return sa.insert(store_vectors).values(embedding=sa.func.UNHEX(sa.bindparam("embedding_hex")))
    return sa.insert(store_vectors)


def write_ops(
    dialect: str,
    refresh: Iterable[Key],
    deletes: Sequence[Key],
    upserts: Sequence[Upsert],
    now: datetime,
) -> Ops[None]:
    """Refresh TTLs, delete items and upsert items (with their vectors)."""
    now_ts = now.timestamp()
    for chunk in _chunks(sorted(refresh)):
        yield (
            sa.update(store_items)
            .where(_key_in(store_items, chunk), store_items.c.ttl_minutes.is_not(None))
            .values(expires_at=sa.literal(now_ts, sa.Double()) + store_items.c.ttl_minutes * 60.0)
        )
    for chunk in _chunks(deletes):
        yield sa.delete(store_vectors).where(_key_in(store_vectors, chunk))
        yield sa.delete(store_items).where(_key_in(store_items, chunk))
    for part in _chunks(upserts):
        keys = [(u.prefix, u.key) for u in part]
        yield sa.delete(store_vectors).where(_key_in(store_vectors, keys))
        rows = [
            {
                "prefix": u.prefix,
                "key": u.key,
                "value": u.value,
                "created_at": now,
                "updated_at": now,
                "expires_at": None if u.ttl_minutes is None else now_ts + u.ttl_minutes * 60.0,
                "ttl_minutes": u.ttl_minutes,
            }
            for u in part
        ]
        yield (_upsert_statement(dialect, now_ts), rows)
        blob = "embedding_hex" if dialect == "mysql" else "embedding"
        vector_rows = [
            {"prefix": u.prefix, "key": u.key, "idx": i, "field": name, blob: _pack(dialect, vector)}
            for u in part
            for i, (name, vector) in enumerate(u.vectors)
        ]
        if vector_rows:
            yield (_vector_statement(dialect), vector_rows)


def sweep_op(now: float) -> Ops[int]:
    """Delete every expired item (and its vectors); return how many items went."""
    expired = sa.and_(store_items.c.expires_at.is_not(None), store_items.c.expires_at <= now)
    doomed = sa.select(store_items.c.prefix, store_items.c.key).where(expired)
    yield sa.delete(store_vectors).where(sa.tuple_(store_vectors.c.prefix, store_vectors.c.key).in_(doomed))
    result = yield sa.delete(store_items).where(expired)
    return int(result.rowcount)
