"""The statements of :class:`~thinkgraph.memory.SQLCheckpointer`, written once for sync and async.

Each operation is a generator that yields :class:`Step` objects (a statement and its parameters)
and receives the rows back; ``drive`` runs it on a sync connection and ``adrive`` on an async one,
so the logic of every method exists once and both APIs issue exactly the same statements.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Executable,
    Row,
    String,
    and_,
    bindparam,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from thinkgraph.memory._engine import Dialect
from thinkgraph.memory._rawsql import RawCompiler, RawStatement
from thinkgraph.memory._schema import checkpoint_blobs, checkpoint_writes, checkpoints

__all__ = [
    "PageShape",
    "Step",
    "adrive",
    "araw_drive",
    "blob_rows_query",
    "drive",
    "insert_ignore",
    "keyed_queries",
    "metadata_filter",
    "raw_drive",
    "upsert",
    "writes_query",
]

T = TypeVar("T")

# The most bound parameters one statement may carry (SQLite allows 32766).
MAX_PARAMS = 30_000


@dataclass(frozen=True, slots=True)
class Step:
    """One statement of an operation; ``fetch`` says whether its rows are sent back."""

    statement: Executable
    params: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None
    fetch: bool = False


Plan = Generator[Step, list[Row[Any]], T]


def drive(conn: Connection, plan: Plan[T]) -> T:
    """Run ``plan`` on a sync connection and return its result."""
    try:
        step = next(plan)
        while True:
            result = conn.execute(step.statement, step.params)
            step = plan.send(list(result.all()) if step.fetch else [])
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def adrive(conn: AsyncConnection, plan: Plan[T]) -> T:
    """Run ``plan`` on an async connection and return its result."""
    try:
        step = next(plan)
        while True:
            result = await conn.execute(step.statement, step.params)
            step = plan.send(list(result.all()) if step.fetch else [])
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


def _raw_call(compiler: RawCompiler, step: Step) -> tuple[RawStatement, str, Any]:
    """(compiled statement, cursor method, driver parameters) for a step on a DBAPI cursor."""
    params = step.params
    if params is None or isinstance(params, dict | Mapping):  # a dict first: the quick check
        values = params or {}
        raw = compiler.compile(step.statement, tuple(values))
        return raw, "execute", raw.args(values)
    raw = compiler.compile(step.statement, tuple(params[0]))
    return raw, "executemany", raw.many(params)


def _raw_rows(cursor: Any, compiler: RawCompiler, step: Step) -> list[Any]:
    """Run a step on a DBAPI cursor; a query's rows come back as records."""
    raw, method, params = _raw_call(compiler, step)
    getattr(cursor, method)(raw.sql, params)
    return [raw.record(row) for row in cursor.fetchall()] if step.fetch else []


def raw_drive(cursor: Any, compiler: RawCompiler, plan: Plan[T]) -> T:
    """Run a plan of prebuilt statements on a DBAPI cursor (see :meth:`Engines.raw_write`)."""
    try:
        step = next(plan)
        while True:
            step = plan.send(_raw_rows(cursor, compiler, step))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def araw_drive(cursor: Any, compiler: RawCompiler, plan: Plan[T]) -> T:
    """Async twin of :func:`raw_drive`, on an async DBAPI cursor."""
    try:
        step = next(plan)
        while True:
            raw, method, params = _raw_call(compiler, step)
            await getattr(cursor, method)(raw.sql, params)
            rows: list[Any] = [raw.record(row) for row in await cursor.fetchall()] if step.fetch else []
            step = plan.send(rows)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


# --- dialect-specific inserts ---------------------------------------------------------------


def insert_ignore(dialect: Dialect, table: Any) -> Executable:
    """``INSERT`` that silently skips rows whose primary key exists."""
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    stmt = mysql.insert(table)
    first_key = next(iter(table.primary_key.columns)).name
    # a no-op assignment: unlike INSERT IGNORE, it does not hide other errors
    return stmt.on_duplicate_key_update({first_key: stmt.inserted[first_key]})


def upsert(dialect: Dialect, table: Any, update: Iterable[str]) -> Executable:
    """``INSERT`` that overwrites the columns ``update`` of a row whose primary key exists."""
    names = list(update)
    keys = [c.name for c in table.primary_key.columns]
    if dialect == "postgresql":
        pg = postgresql.insert(table)
        return pg.on_conflict_do_update(index_elements=keys, set_={n: pg.excluded[n] for n in names})
    if dialect == "sqlite":
        lite = sqlite.insert(table)
        return lite.on_conflict_do_update(index_elements=keys, set_={n: lite.excluded[n] for n in names})
    my = mysql.insert(table)
    return my.on_duplicate_key_update({n: my.inserted[n] for n in names})


# --- metadata filter ------------------------------------------------------------------------


def _json_path(key: str) -> str:
    return '$."' + key + '"'


def metadata_filter(dialect: Dialect, filter: Mapping[str, Any]) -> tuple[list[ColumnElement[bool]], bool]:
    """SQL predicates for a metadata ``filter`` and whether rows still need checking in Python.

    Values are compared as JSON, as ``InMemorySaver`` compares them in Python: ``{"step": 1}``
    does not match the string ``"1"``, and ``None`` matches a missing key as well as a null.
    Nested values (dicts, lists) are narrowed in SQL and compared exactly in Python.
    """
    column = checkpoints.c.metadata
    predicates: list[ColumnElement[bool]] = []
    residual = False
    for key, value in filter.items():
        if dialect != "postgresql" and ('"' in key or "\\" in key):
            residual = True
            continue
        nested = isinstance(value, dict | list)
        residual = residual or nested
        if dialect == "postgresql":
            extracted: ColumnElement[Any] = column[key]  # jsonb -> key
            if value is None:
                predicates.append(
                    or_(extracted.is_(None), extracted == cast(literal("null"), postgresql.JSONB))
                )
            elif nested:
                predicates.append(extracted.is_not(None))
            else:
                predicates.append(extracted == cast(literal(json.dumps(value)), postgresql.JSONB))
            continue
        if dialect == "mysql":
            predicates.append(_mysql_equals(column, key, value, nested))
            continue
        extracted = func.json_extract(column, _json_path(key))
        if value is None:
            predicates.append(extracted.is_(None))
        elif nested:
            predicates.append(extracted.is_not(None))
        elif isinstance(value, bool):
            predicates.append(func.json_type(column, _json_path(key)) == ("true" if value else "false"))
        else:
            predicates.append(extracted == func.json_extract(literal(json.dumps(value)), "$"))
    return predicates, residual


_MYSQL_NUMBERS = ("INTEGER", "UNSIGNED INTEGER", "DOUBLE", "DECIMAL")


def _mysql_equals(column: Any, key: str, value: Any, nested: bool) -> ColumnElement[bool]:
    """JSON equality on MySQL and MariaDB (whose JSON is text: compare by JSON type, then value)."""
    extracted = func.json_extract(column, _json_path(key))
    kind = func.json_type(extracted)
    if value is None:
        return or_(extracted.is_(None), kind == "NULL")
    if nested:
        return kind.in_(("OBJECT", "ARRAY"))
    if isinstance(value, bool):
        return and_(kind == "BOOLEAN", func.json_unquote(extracted) == ("true" if value else "false"))
    if isinstance(value, int | float):
        return and_(kind.in_(_MYSQL_NUMBERS), extracted == literal(value))
    text = cast(func.json_unquote(extracted), mysql.BINARY())
    return and_(kind == "STRING", text == cast(literal(str(value)), mysql.BINARY()))


def matches(metadata: Mapping[str, Any], filter: Mapping[str, Any]) -> bool:
    """The Python check of a metadata filter (``InMemorySaver``'s semantics)."""
    return all(value == metadata.get(key) for key, value in filter.items())


# --- reads ----------------------------------------------------------------------------------

CHECKPOINT_COLUMNS = (
    checkpoints.c.thread_id,
    checkpoints.c.ns_hash,
    checkpoints.c.checkpoint_ns,
    checkpoints.c.checkpoint_id,
    checkpoints.c.parent_checkpoint_id,
    checkpoints.c.type,
    checkpoints.c.checkpoint,
    checkpoints.c.metadata,
)


@dataclass(frozen=True, slots=True)
class PageShape:
    """Which conditions a page of ``list`` has: one prebuilt statement per shape."""

    thread: bool
    ns: bool
    checkpoint_id: bool
    before: bool
    after: bool


def checkpoints_query(shape: PageShape, predicates: Sequence[ColumnElement[bool]] = ()) -> Executable:
    """Checkpoints newest first (by id, then thread and namespace for a stable order).

    The values are bound by name: ``l_thread_id``, ``l_ns_hash``, ``l_checkpoint_id``,
    ``l_before``, ``l_after_<column>`` (the last row of the previous page) and ``l_limit``.
    """
    c = checkpoints.c
    where: list[ColumnElement[bool]] = list(predicates)
    if shape.thread:
        where.append(c.thread_id == bindparam("l_thread_id"))
    if shape.ns:
        where.append(c.ns_hash == bindparam("l_ns_hash"))
    if shape.checkpoint_id:
        where.append(c.checkpoint_id == bindparam("l_checkpoint_id"))
    if shape.before:
        where.append(c.checkpoint_id < bindparam("l_before"))
    # newest first; thread and namespace break ties only when they are not fixed by the filter,
    # so that a single thread's listing walks its primary key without sorting
    order = [c.checkpoint_id]
    if not shape.thread:
        order.append(c.thread_id)
    if not shape.ns:
        order.append(c.ns_hash)
    if shape.after:
        where.append(tuple_(*order) < tuple_(*(bindparam(f"l_after_{col.name}") for col in order)))
    return (
        select(*CHECKPOINT_COLUMNS)
        .where(and_(*where) if where else true_())
        .order_by(*(col.desc() for col in order))
        .limit(bindparam("l_limit"))
    )


def true_() -> ColumnElement[bool]:
    """An always-true predicate that renders on every dialect."""
    return literal(1) == literal(1)


def blob_rows_query(groups: Sequence[tuple[str, str]], versions: Sequence[str]) -> Executable:
    """The blobs of these (thread, ns hash) groups with one of these versions.

    Versions carry a random part, so this is (nearly) exactly the blobs wanted; the caller
    matches rows to checkpoints by (thread, ns hash, channel, version).
    """
    b = checkpoint_blobs.c
    return select(b.thread_id, b.ns_hash, b.channel, b.version, b.type, b.blob).where(
        tuple_(b.thread_id, b.ns_hash).in_(groups), b.version.in_(versions)
    )


def writes_query(groups: Sequence[tuple[str, str]], checkpoint_ids: Sequence[str]) -> Executable:
    """The pending writes of these checkpoints, in application order (task path, task id, index)."""
    w = checkpoint_writes.c
    return (
        select(w.thread_id, w.ns_hash, w.checkpoint_id, w.task_id, w.channel, w.type, w.blob)
        .where(tuple_(w.thread_id, w.ns_hash).in_(groups), w.checkpoint_id.in_(checkpoint_ids))
        .order_by(w.thread_id, w.ns_hash, w.checkpoint_id, w.task_path, w.task_id, w.idx)
    )


def keyed_queries(dialect: Dialect) -> tuple[Executable, Executable] | None:
    """SQLite and PostgreSQL: blobs by exact key, and the writes of checkpoints by key, each
    key list bound as one JSON array (``k_blobs``: [thread, ns hash, channel, version] items;
    ``k_checkpoints``: [thread, ns hash, checkpoint id] items), so the statements never change
    shape and every lookup uses the primary key."""
    if dialect == "sqlite":

        def elements(name: str) -> Any:
            return func.json_each(bindparam(name)).table_valued("value")

        def item(element: Any, i: int) -> ColumnElement[Any]:
            return func.json_extract(element.c.value, literal_column(f"'$[{i}]'"))

    elif dialect == "postgresql":

        def elements(name: str) -> Any:
            keys = cast(bindparam(name, type_=String()), postgresql.JSONB)
            return func.jsonb_array_elements(keys).table_valued("value")

        def item(element: Any, i: int) -> ColumnElement[Any]:
            value: ColumnElement[Any] = element.c.value.op("->>")(literal_column(str(i)))
            return value

    else:
        return None
    b, w = checkpoint_blobs.c, checkpoint_writes.c
    blob_key = (b.thread_id, b.ns_hash, b.channel, b.version)
    checkpoint_key = (w.thread_id, w.ns_hash, w.checkpoint_id)
    blob_keys, checkpoint_keys = elements("k_blobs"), elements("k_checkpoints")
    blobs = (
        select(b.thread_id, b.ns_hash, b.channel, b.version, b.type, b.blob)
        .select_from(blob_keys)
        .join(
            checkpoint_blobs,
            and_(*(col == item(blob_keys, i) for i, col in enumerate(blob_key))),
        )
    )
    writes = (
        select(w.thread_id, w.ns_hash, w.checkpoint_id, w.task_id, w.channel, w.type, w.blob)
        .select_from(checkpoint_keys)
        .join(
            checkpoint_writes,
            and_(*(col == item(checkpoint_keys, i) for i, col in enumerate(checkpoint_key))),
        )
        .order_by(w.thread_id, w.ns_hash, w.checkpoint_id, w.task_path, w.task_id, w.idx)
    )
    return blobs, writes


def chunks(items: Sequence[T], params_per_item: int, reserved: int = 0) -> Iterable[Sequence[T]]:
    """Split ``items`` so that no statement binds more than :data:`MAX_PARAMS` parameters."""
    size = max(1, (MAX_PARAMS - reserved) // params_per_item)
    for start in range(0, len(items), size):
        yield items[start : start + size]
