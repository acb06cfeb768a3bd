"""The statements of the run ledger, written once for sync and async (see ``_store_sql.drive``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
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

__all__ = [
    "Ops",
    "calls_query",
    "costs_ops",
    "finish_ops",
    "model_call_ops",
    "run_query",
    "runs_query",
    "select_ops",
    "start_ops",
    "summary_ops",
    "tool_call_ops",
]

T = TypeVar("T")
R = TypeVar("R")
Ops = Generator[Executable, Any, T]

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


def _start_ops(dialect: str, row: dict[str, Any]) -> Ops[RunRecord]:
    restart = {"status": "running", "ended_at": None, "error": None}
    if dialect == "mysql":
        yield mysql.insert(runs).values(row).on_duplicate_key_update(**restart)
    else:
        insert = postgresql.insert(runs) if dialect == "postgresql" else sqlite.insert(runs)
        yield insert.values(row).on_conflict_do_update(index_elements=[runs.c.run_id], set_=restart)
    rows = yield run_query(row["run_id"])
    return RunRecord.from_row(rows[0])


def _finish_ops(run_id: str, values: dict[str, Any]) -> Ops[RunRecord]:
    yield sa.update(runs).where(runs.c.run_id == run_id).values(**values)
    rows = yield run_query(run_id)
    if not rows:
        raise ConfigError(f"no run {run_id!r} in the ledger: call start_run({run_id!r}) before finish_run")
    return RunRecord.from_row(rows[0])


def _insert_ops(table: sa.Table, row: dict[str, Any], record: Callable[[Any], R]) -> Ops[R]:
    result = yield sa.insert(table).values(row)  # no RETURNING: MySQL has none
    return record(SimpleNamespace(**row, id=result.inserted_primary_key[0]))


def select_ops(statement: Executable, record: Callable[[Any], R]) -> Ops[list[R]]:
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


def model_call_ops(
    info: Mapping[str, Any],
    run_id: str | None,
    thread_id: str | None,
    node: str | None,
    error_class: str | None,
    now: datetime,
) -> Ops[ModelCallRecord]:
    """Insert one model call from its ``CallInfo``."""
    cost = info.get("cost_usd")
    unpriced = bool(info.get("unpriced")) or cost is None
    requested = str(info.get("requested_model") or info.get("model") or "")
    if not requested:
        raise ConfigError(f"a model call needs 'requested_model' or 'model'; got {dict(info)!r}")
    attempts = info.get("attempts")
    row = {
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
    return _insert_ops(model_calls, row, ModelCallRecord.from_row)


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
    return _insert_ops(tool_calls, row, ToolCallRecord.from_row)


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


def run_query(run_id: str) -> Executable:
    """The run ``run_id`` (no row when the ledger does not know it)."""
    return sa.select(runs).where(runs.c.run_id == run_id)


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
