"""The statements of the run ledger, written once for sync and async (see ``_store_sql.drive``).

The writes made during every run (start, finish, one row per model or tool call) are built once
as statements with bound parameters and executed with a row of values, so a write costs no
statement construction. :func:`raw_drive` also runs them on a DBAPI cursor directly, compiled
once per parameter shape by :class:`~thinkgraph.memory._rawsql.RawCompiler`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any, TypeVar, cast, get_args

import sqlalchemy as sa
from sqlalchemy import Executable
from sqlalchemy.dialects import mysql, postgresql, sqlite

from thinkgraph.exceptions import ConfigError
from thinkgraph.memory._ledger_schema import model_calls, runs, tool_calls
from thinkgraph.memory._ledger_types import (
    CostGroup,
    CostRow,
    ModelCallRecord,
    RunRecord,
    RunStatus,
    RunSummary,
    ToolCallRecord,
    ToolStatus,
)
from thinkgraph.memory._rawsql import RawCompiler

__all__ = [
    "Ops",
    "calls_query",
    "costs_ops",
    "finish_ops",
    "model_call_ops",
    "model_call_row",
    "model_calls_ops",
    "run_query",
    "runs_query",
    "select_ops",
    "start_ops",
    "summary_ops",
    "tool_call_ops",
]

T = TypeVar("T")
R = TypeVar("R")
Step = Executable | tuple[Executable, dict[str, Any]]  # a statement, or one with its bound values
Ops = Generator[Step, Any, T]  # run by ``_store_sql.drive``/``adrive`` or :func:`raw_drive`

_RUN_STATUSES: frozenset[str] = frozenset(get_args(RunStatus))
_TOOL_STATUSES: frozenset[str] = frozenset(get_args(ToolStatus))
_GROUP_COLUMNS: dict[str, str] = {
    "thread": "thread_id",
    "node": "node",
    "provider": "provider",
    "model": "model",
    "run": "run_id",
}


def _error_text(error: str | BaseException | None) -> str | None:
    if error is None or isinstance(error, str):
        return error
    return f"{type(error).__name__}: {error}"


def _window(column: sa.Column[Any], since: datetime | None, until: datetime | None) -> list[Any]:
    """``since <= column < until`` (either bound optional)."""
    conditions = []
    if since is not None:
        conditions.append(column >= since)
    if until is not None:
        conditions.append(column < until)
    return conditions


# --- statements ---------------------------------------------------------------------------


_RUN_ID = sa.bindparam("b_run_id", type_=runs.c.run_id.type)
_RUN_QUERY = sa.select(runs).where(runs.c.run_id == _RUN_ID)
_FINISH = (
    sa.update(runs)
    .where(runs.c.run_id == _RUN_ID)
    .values(
        status=sa.bindparam("b_status", type_=runs.c.status.type),
        ended_at=sa.bindparam("b_ended_at", type_=runs.c.ended_at.type),
        error=sa.bindparam("b_error", type_=runs.c.error.type),
    )
)
_MODEL_CALL_INSERT = sa.insert(model_calls)
_TOOL_CALL_INSERT = sa.insert(tool_calls)


def _upsert_run(dialect: str) -> Executable:
    """Insert a run; a known run id is reopened (status running, no end), keeping ``started_at``."""
    if dialect == "mysql":
        insert = mysql.insert(runs)
        return insert.on_duplicate_key_update(
            status=insert.inserted.status, ended_at=insert.inserted.ended_at, error=insert.inserted.error
        )
    pg_or_lite = postgresql.insert(runs) if dialect == "postgresql" else sqlite.insert(runs)
    return pg_or_lite.on_conflict_do_update(
        index_elements=[runs.c.run_id],
        set_={
            "status": pg_or_lite.excluded.status,
            "ended_at": pg_or_lite.excluded.ended_at,
            "error": pg_or_lite.excluded.error,
        },
    )


_UPSERT_RUN = {dialect: _upsert_run(dialect) for dialect in ("sqlite", "postgresql", "mysql")}


def _run_rows(run_id: str) -> Step:
    return (_RUN_QUERY, {"b_run_id": run_id})


def _start_ops(dialect: str, row: dict[str, Any]) -> Ops[RunRecord]:
    yield (_UPSERT_RUN[dialect], row)
    rows = yield _run_rows(row["run_id"])
    return RunRecord.from_row(rows[0])


def _finish_ops(run_id: str, values: dict[str, Any]) -> Ops[RunRecord]:
    yield (_FINISH, {"b_run_id": run_id, **{f"b_{key}": value for key, value in values.items()}})
    rows = yield _run_rows(run_id)
    if not rows:
        raise ConfigError(f"no run {run_id!r} in the ledger: call start_run({run_id!r}) before finish_run")
    return RunRecord.from_row(rows[0])


def _insert_ops(insert: Executable, row: dict[str, Any], record: Callable[[Any], R]) -> Ops[R]:
    result = yield (insert, row)  # no RETURNING: MySQL has none
    return record(SimpleNamespace(**row, id=result.inserted_primary_key[0]))


def select_ops(statement: Step, record: Callable[[Any], R]) -> Ops[list[R]]:
    """The rows of ``statement``, each made a record by ``record``."""
    rows: list[Any] = yield statement
    return [record(row) for row in rows]


def _cost_statement(columns: Sequence[str], where: Sequence[Any]) -> sa.Select[Any]:
    c = model_calls.c
    keys = [c[name] for name in columns]
    priced_cost = sa.case((c.unpriced == sa.false(), c.cost_usd), else_=sa.null())
    return (
        sa.select(
            *keys,
            sa.func.count().label("calls"),
            sa.func.sum(sa.case((c.error_class.is_not(None), 1), else_=0)).label("errors"),
            sa.func.sum(c.input_tokens).label("input_tokens"),
            sa.func.sum(c.output_tokens).label("output_tokens"),
            sa.func.sum(c.cached_tokens).label("cached_tokens"),
            sa.func.sum(c.reasoning_tokens).label("reasoning_tokens"),
            sa.func.sum(priced_cost).label("cost_usd"),
            sa.func.sum(sa.case((c.unpriced == sa.true(), 1), else_=0)).label("unpriced_calls"),
        )
        .where(*where)
        .group_by(*keys)
    )


def _cost_rows(columns: Sequence[str], rows: Iterable[Any]) -> list[CostRow]:
    result = [
        CostRow(
            **{name: row._mapping[name] for name in columns},
            calls=int(row.calls),
            errors=int(row.errors or 0),
            input_tokens=int(row.input_tokens or 0),
            output_tokens=int(row.output_tokens or 0),
            cached_tokens=int(row.cached_tokens or 0),
            reasoning_tokens=int(row.reasoning_tokens or 0),
            cost_usd=float(row.cost_usd or 0.0),
            unpriced_calls=int(row.unpriced_calls or 0),
        )
        for row in rows
        if int(row.calls)
    ]
    result.sort(key=lambda r: (-r.cost_usd, *[getattr(r, name) or "" for name in columns]))
    return result


def _costs_ops(columns: Sequence[str], where: Sequence[Any]) -> Ops[list[CostRow]]:
    rows = yield _cost_statement(columns, where)
    return _cost_rows(columns, rows)


def summary_ops(run_id: str) -> Ops[RunSummary]:
    where = [model_calls.c.run_id == run_id]
    run_rows = yield run_query(run_id)
    total = (yield from _costs_ops([], where)) or [CostRow()]
    by_node = yield from _costs_ops(["node"], where)
    by_provider = yield from _costs_ops(["provider"], where)
    tool_rows = yield sa.select(
        sa.func.count().label("calls"),
        sa.func.sum(sa.case((tool_calls.c.status != "ok", 1), else_=0)).label("errors"),
    ).where(tool_calls.c.run_id == run_id)
    return RunSummary(
        run_id=run_id,
        run=RunRecord.from_row(run_rows[0]) if run_rows else None,
        total=total[0],
        by_node=by_node,
        by_provider=by_provider,
        tool_calls=int(tool_rows[0].calls),
        tool_errors=int(tool_rows[0].errors or 0),
    )


# --- operations -------------------------------------------------------------------------


def start_ops(
    dialect: str, run_id: str | None, thread_id: str | None, graph: str | None, now: datetime
) -> Ops[RunRecord]:
    """Insert a running run, or reopen a known one (keeping when it first started)."""
    row = {
        "run_id": run_id or str(uuid.uuid4()),
        "thread_id": thread_id,
        "graph": graph,
        "status": "running",
        "started_at": now,
        "ended_at": None,
        "error": None,
    }
    return _start_ops(dialect, row)


def finish_ops(run_id: str, status: str, error: str | BaseException | None, now: datetime) -> Ops[RunRecord]:
    """Set how a run ended.

    Raises:
        ConfigError: an unknown status (the run being unknown is raised when the ops run).
    """
    if status not in _RUN_STATUSES:
        raise ConfigError(f"unknown run status {status!r}: use one of {sorted(_RUN_STATUSES)}")
    ended_at = None if status == "running" else now
    return _finish_ops(run_id, {"status": status, "ended_at": ended_at, "error": _error_text(error)})


def model_call_row(
    info: Mapping[str, Any],
    run_id: str | None,
    thread_id: str | None,
    node: str | None,
    error_class: str | None,
    now: datetime,
) -> dict[str, Any]:
    """The ``tg_model_calls`` row of one model call from its ``CallInfo``.

    Raises:
        ConfigError: ``info`` names no model.
    """
    cost = info.get("cost_usd")
    unpriced = bool(info.get("unpriced")) or cost is None
    requested = str(info.get("requested_model") or info.get("model") or "")
    if not requested:
        raise ConfigError(f"a model call needs 'requested_model' or 'model'; got {dict(info)!r}")
    attempts = info.get("attempts")
    return {
        "run_id": run_id,
        "thread_id": thread_id,
        "node": node,
        "provider": str(info.get("provider") or ""),
        "requested_model": requested,
        "model": str(info.get("model") or requested),
        "attempts": (
            sum(1 for a in attempts if not (isinstance(a, Mapping) and a.get("skipped")))
            if isinstance(attempts, list)
            else 1
        ),
        "fallback": bool(info.get("fallback", False)),
        "input_tokens": int(info.get("input_tokens") or 0),
        "output_tokens": int(info.get("output_tokens") or 0),
        "cached_tokens": int(info.get("cached_tokens") or 0),
        "reasoning_tokens": int(info.get("reasoning_tokens") or 0),
        "cost_usd": None if unpriced else float(cast(float, cost)),
        "unpriced": unpriced,
        "latency_s": float(info.get("latency_s") or 0.0),
        "error_class": error_class,
        "created_at": now,
    }


def model_call_ops(
    info: Mapping[str, Any],
    run_id: str | None,
    thread_id: str | None,
    node: str | None,
    error_class: str | None,
    now: datetime,
) -> Ops[ModelCallRecord]:
    """Insert one model call from its ``CallInfo``."""
    row = model_call_row(info, run_id, thread_id, node, error_class, now)
    return _insert_ops(_MODEL_CALL_INSERT, row, ModelCallRecord.from_row)


def model_calls_ops(rows: Sequence[dict[str, Any]]) -> Ops[int]:
    """Insert model call rows (from :func:`model_call_row`), in order; returns how many."""
    for row in rows:
        yield (_MODEL_CALL_INSERT, row)
    return len(rows)


def tool_call_ops(
    tool: str,
    status: str,
    latency_s: float,
    run_id: str | None,
    thread_id: str | None,
    node: str | None,
    error_class: str | None,
    now: datetime,
) -> Ops[ToolCallRecord]:
    """Insert one tool call."""
    if status not in _TOOL_STATUSES:
        raise ConfigError(f"unknown tool call status {status!r}: use one of {sorted(_TOOL_STATUSES)}")
    row = {
        "run_id": run_id,
        "thread_id": thread_id,
        "node": node,
        "tool": tool,
        "status": status,
        "latency_s": float(latency_s),
        "error_class": error_class,
        "created_at": now,
    }
    return _insert_ops(_TOOL_CALL_INSERT, row, ToolCallRecord.from_row)


def runs_query(
    thread_id: str | None,
    graph: str | None,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> Executable:
    """Runs, newest first."""
    where = _window(runs.c.started_at, since, until)
    for column, wanted in ((runs.c.thread_id, thread_id), (runs.c.graph, graph), (runs.c.status, status)):
        if wanted is not None:
            where.append(column == wanted)
    return sa.select(runs).where(*where).order_by(runs.c.started_at.desc(), runs.c.run_id).limit(limit)


def calls_query(
    table: sa.Table,
    run_id: str | None,
    thread_id: str | None,
    since: datetime | None,
    until: datetime | None,
) -> Executable:
    """Calls of ``table`` in recording order."""
    return sa.select(table).where(*_calls_where(table, run_id, thread_id, since, until)).order_by(table.c.id)


def run_query(run_id: str) -> Step:
    """The run ``run_id`` (no row when the ledger does not know it)."""
    return _run_rows(run_id)


def _calls_where(
    table: sa.Table, run_id: str | None, thread_id: str | None, since: datetime | None, until: datetime | None
) -> list[Any]:
    where = _window(table.c.created_at, since, until)
    if run_id is not None:
        where.append(table.c.run_id == run_id)
    if thread_id is not None:
        where.append(table.c.thread_id == thread_id)
    return where


def costs_ops(
    group_by: Sequence[CostGroup] | CostGroup,
    since: datetime | None,
    until: datetime | None,
    run_id: str | None,
    thread_id: str | None,
) -> Ops[list[CostRow]]:
    """Model call totals per group.

    Raises:
        ConfigError: an unknown group.
    """
    groups = [group_by] if isinstance(group_by, str) else list(group_by)
    unknown = [g for g in groups if g not in _GROUP_COLUMNS]
    if unknown:
        raise ConfigError(f"cannot group costs by {unknown[0]!r}: use any of {sorted(_GROUP_COLUMNS)}")
    columns = list(dict.fromkeys(_GROUP_COLUMNS[g] for g in groups))
    return _costs_ops(columns, _calls_where(model_calls, run_id, thread_id, since, until))


# --- running statements ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Written:
    """What a write step gets back from :func:`raw_drive` (as a SQLAlchemy result would)."""

    rowcount: int
    inserted_primary_key: tuple[Any, ...]


def raw_drive(cursor: Any, compiler: RawCompiler, ops: Ops[T]) -> T:
    """Run ``ops`` (prebuilt statements with their values) on a DBAPI cursor
    (see :meth:`~thinkgraph.memory.Engines.raw_write`), compiled once per shape by ``compiler``."""
    try:
        step = next(ops)
        while True:
            if not isinstance(step, tuple):  # pragma: no cover - the write ops bind their values
                raise TypeError("raw ledger writes run prebuilt statements with bound values")
            statement, values = step
            raw = compiler.compile(statement, tuple(values))
            cursor.execute(raw.sql, raw.args(values))
            if raw.columns is not None:
                answer: Any = [raw.record(row) for row in cursor.fetchall()]
            else:
                answer = _Written(cursor.rowcount, (cursor.lastrowid,))
            step = ops.send(answer)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
