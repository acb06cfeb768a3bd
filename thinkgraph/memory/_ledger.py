"""The run ledger: runs, model calls and tool calls in SQL, with cost queries (sync and async).

Every record is its own short transaction, committed before the method returns, so what was
recorded survives a crash of the process a moment later.

The writes a graph makes at every run and model call are cheap: prebuilt statements executed with
their values; on SQLite they run on the DBAPI connection directly (one ``BEGIN IMMEDIATE`` ...
``COMMIT``), and the async methods run them in a worker thread, queued behind the same in-process
writer lock as the checkpointer's writes (rather than polling SQLite's file lock).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy.exc
from sqlalchemy import URL, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from thinkgraph.exceptions import PersistenceError
from thinkgraph.memory._engine import Engines
from thinkgraph.memory._ledger_schema import model_calls, tool_calls
from thinkgraph.memory._ledger_sql import (
    Ops,
    calls_query,
    costs_ops,
    finish_ops,
    model_call_ops,
    model_call_row,
    model_calls_ops,
    raw_drive,
    run_query,
    runs_query,
    select_ops,
    start_ops,
    summary_ops,
    tool_call_ops,
)
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
from thinkgraph.memory._resource import MigratedResource
from thinkgraph.memory._store_sql import adrive, drive

__all__ = ["Ledger"]

T = TypeVar("T")


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --- the ledger ---------------------------------------------------------------------------


class Ledger(MigratedResource):
    """The record of runs, model calls and tool calls in a SQL database, with cost queries.

    Every ``record_*``/``start_run``/``finish_run`` is one short transaction of its own,
    committed before the method returns: a record survives the process being killed (SIGKILL)
    right after the call. Each method has an async twin prefixed with ``a``
    (``arecord_model_call``...).

    Durability inside a graph: a compiled graph with a checkpointer does not make its nodes wait
    for a transaction per model call. It queues each call with :meth:`defer_model_call`, and its
    checkpointer writes the queue (:meth:`flush`, one transaction) before every checkpoint and
    every save of a task's results, and the run flushes again when it ends. The guarantee is at
    checkpoint granularity: when the process is killed (SIGKILL), every model call made before
    the last checkpoint or task result that was saved is in the ledger; calls of the step that
    was under way may be missing (the resumed run repeats that step and records its calls).
    Without a checkpointer each call is recorded at once, as above. Refused and failed calls, run
    starts and ends and tool calls are always recorded at once.

    Args:
        db: a database URL, an engine, or :class:`~thinkgraph.memory.Engines` (shared with the
            checkpointer and store is fine). Engines created here are closed by :meth:`close`.
        clock: returns the current time (timezone-aware); tests inject one.

    Example:
        >>> ledger = Ledger("sqlite://")
        >>> ledger.setup()
        >>> run = ledger.start_run(run_id="r1", thread_id="t1", graph="demo")
        >>> ledger.finish_run("r1", "succeeded").status
        'succeeded'
        >>> ledger.close()
    """

    def __init__(
        self, db: str | URL | Engine | AsyncEngine | Engines, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._bind(db)
        self._clock = clock or _utcnow
        self._raw: RawCompiler | None = None
        self._queue: list[dict[str, Any]] = []
        self._queue_lock = threading.Lock()

    # --- plumbing -------------------------------------------------------------------------

    def _failed(self, exc: Exception) -> PersistenceError:
        orig = getattr(exc, "orig", None) or exc
        return PersistenceError(
            f"the ledger on {self.engines.url!r} failed: {type(orig).__name__}: {orig}; "
            "if its tables are missing, call ledger.setup() (or run `thinkgraph db upgrade`)"
        )

    def _raw_write(self, ops: Ops[T]) -> T:
        """SQLite: run write ``ops`` on the DBAPI connection, in one serialized ``BEGIN IMMEDIATE``."""
        engines = self.engines
        if self._raw is None:
            self._raw = RawCompiler(engines.sync.dialect)
        try:
            with engines.raw_write() as cursor:
                return raw_drive(cursor, self._raw, ops)
        except (sqlalchemy.exc.SQLAlchemyError, engines.sync.dialect.loaded_dbapi.Error) as exc:
            raise self._failed(exc) from exc

    def _write(self, ops: Ops[T]) -> T:
        if self.engines.dialect == "sqlite":
            return self._raw_write(ops)
        try:
            with self.engines.write() as conn:
                return drive(conn, ops)
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise self._failed(exc) from exc

    def _read(self, ops: Ops[T]) -> T:
        try:
            with self.engines.read() as conn:
                return drive(conn, ops)
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise self._failed(exc) from exc

    async def _awrite(self, ops: Ops[T]) -> T:
        if self.engines.dialect == "sqlite":
            # sqlite3 has no non-blocking API (aiosqlite hops to its thread once per statement):
            # one hop to a worker thread for the whole transaction instead
            return await asyncio.to_thread(self._raw_write, ops)
        try:
            async with self.engines.awrite() as conn:
                return await adrive(conn, ops)
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise self._failed(exc) from exc

    async def _aread(self, ops: Ops[T]) -> T:
        try:
            async with self.engines.aread() as conn:
                return await adrive(conn, ops)
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise self._failed(exc) from exc

    # --- recording ------------------------------------------------------------------------

    def start_run(
        self, *, run_id: str | None = None, thread_id: str | None = None, graph: str | None = None
    ) -> RunRecord:
        """Record that a run started (status ``running``); starting a known run id restarts it.

        Args:
            run_id: the run's id; a new UUID when omitted.
            thread_id: the thread it runs on.
            graph: the graph's name.

        Returns:
            The run as recorded.
        """
        return self._write(start_ops(self.engines.dialect, run_id, thread_id, graph, self._clock()))

    def finish_run(
        self, run_id: str, status: RunStatus, *, error: str | BaseException | None = None
    ) -> RunRecord:
        """Record how a run ended.

        Args:
            run_id: the run.
            status: ``succeeded``, ``failed``, ``interrupted`` or ``cancelled`` (``running`` reopens it).
            error: the error that ended it (an exception is stored as ``"ErrorClass: message"``).

        Raises:
            ConfigError: an unknown status, or a run that was never started.
        """
        return self._write(finish_ops(run_id, status, error, self._clock()))

    def record_model_call(
        self,
        info: Mapping[str, Any],
        *,
        run_id: str | None = None,
        thread_id: str | None = None,
        node: str | None = None,
        error_class: str | None = None,
    ) -> ModelCallRecord:
        """Record one model call from its :class:`~thinkgraph.models.CallInfo`.

        Args:
            info: the ``CallInfo`` of the call (``response_metadata["thinkgraph"]`` of its message).
                A ``None`` cost or ``unpriced`` marks the call unpriced (cost unknown, not zero);
                attempts skipped by an open circuit are not counted as tries.
            run_id: the run it belongs to.
            thread_id: the thread it belongs to.
            node: the node that made it.
            error_class: the error's class name when the call failed.
        """
        return self._write(model_call_ops(info, run_id, thread_id, node, error_class, self._clock()))

    def defer_model_call(
        self,
        info: Mapping[str, Any],
        *,
        run_id: str | None = None,
        thread_id: str | None = None,
        node: str | None = None,
    ) -> None:
        """Queue one model call record (as :meth:`record_model_call`); the next :meth:`flush`
        writes it. Thread-safe; the record keeps the time it was queued.

        Raises:
            ConfigError: ``info`` names no model.
        """
        row = model_call_row(info, run_id, thread_id, node, None, self._clock())
        with self._queue_lock:
            self._queue.append(row)

    def _take(self) -> list[dict[str, Any]]:
        with self._queue_lock:
            rows, self._queue = self._queue, []
        return rows

    def _requeue(self, rows: list[dict[str, Any]]) -> None:
        with self._queue_lock:
            self._queue[:0] = rows

    def flush(self) -> int:
        """Write the queued model call records in one transaction; returns how many.

        Raises:
            PersistenceError: the write failed (the records stay queued for the next flush).
        """
        rows = self._take()
        if not rows:
            return 0
        try:
            return self._write(model_calls_ops(rows))
        except BaseException:
            self._requeue(rows)
            raise

    async def aflush(self) -> int:
        """Async twin of :meth:`flush`."""
        rows = self._take()
        if not rows:
            return 0
        try:
            return await self._awrite(model_calls_ops(rows))
        except BaseException:
            self._requeue(rows)
            raise

    def record_tool_call(
        self,
        tool: str,
        *,
        status: ToolStatus = "ok",
        latency_s: float = 0.0,
        run_id: str | None = None,
        thread_id: str | None = None,
        node: str | None = None,
        error_class: str | None = None,
    ) -> ToolCallRecord:
        """Record one tool call.

        Args:
            tool: the tool's name.
            status: ``ok``, ``error``, ``timeout`` or ``denied``.
            latency_s: seconds it took.
            run_id: the run it belongs to.
            thread_id: the thread it belongs to.
            node: the node that ran it.
            error_class: the error's class name when it failed.

        Raises:
            ConfigError: an unknown status.
        """
        ops = tool_call_ops(tool, status, latency_s, run_id, thread_id, node, error_class, self._clock())
        return self._write(ops)

    # --- queries --------------------------------------------------------------------------

    def runs(
        self,
        *,
        thread_id: str | None = None,
        graph: str | None = None,
        status: RunStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[RunRecord]:
        """Runs, newest first, optionally of one thread, graph or status, started in ``[since, until)``.

        Naive datetimes are taken as UTC.
        """
        query = runs_query(thread_id, graph, status, since, until, limit)
        return self._read(select_ops(query, RunRecord.from_row))

    def get_run(self, run_id: str) -> RunRecord | None:
        """One run, or ``None`` if the ledger does not know it."""
        found = self._read(select_ops(run_query(run_id), RunRecord.from_row))
        return found[0] if found else None

    def model_calls(
        self,
        *,
        run_id: str | None = None,
        thread_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[ModelCallRecord]:
        """Model calls in recording order, optionally of one run or thread and in ``[since, until)``."""
        query = calls_query(model_calls, run_id, thread_id, since, until)
        return self._read(select_ops(query, ModelCallRecord.from_row))

    def tool_calls(
        self,
        *,
        run_id: str | None = None,
        thread_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[ToolCallRecord]:
        """Tool calls in recording order, optionally of one run or thread and in ``[since, until)``."""
        query = calls_query(tool_calls, run_id, thread_id, since, until)
        return self._read(select_ops(query, ToolCallRecord.from_row))

    def costs(
        self,
        group_by: Sequence[CostGroup] | CostGroup = ("model",),
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        run_id: str | None = None,
        thread_id: str | None = None,
    ) -> list[CostRow]:
        """Model call totals per group, most expensive first.

        Args:
            group_by: any of ``"thread"``, ``"node"``, ``"provider"``, ``"model"`` (the model that
                answered), ``"run"``; empty for one row of grand totals.
            since: only calls recorded at or after this time.
            until: only calls recorded before this time.
            run_id: only the calls of this run.
            thread_id: only the calls of this thread.

        Returns:
            One :class:`CostRow` per group; ``cost_usd`` sums the priced calls and
            ``unpriced_calls`` counts the others.

        Raises:
            ConfigError: an unknown group.
        """
        return self._read(costs_ops(group_by, since, until, run_id, thread_id))

    def run_summary(self, run_id: str) -> RunSummary:
        """Totals of one run: overall, by node and by provider, with tool call counts."""
        return self._read(summary_ops(run_id))

    # --- async twins ----------------------------------------------------------------------

    async def astart_run(
        self, *, run_id: str | None = None, thread_id: str | None = None, graph: str | None = None
    ) -> RunRecord:
        """Async twin of :meth:`start_run`."""
        return await self._awrite(start_ops(self.engines.dialect, run_id, thread_id, graph, self._clock()))

    async def afinish_run(
        self, run_id: str, status: RunStatus, *, error: str | BaseException | None = None
    ) -> RunRecord:
        """Async twin of :meth:`finish_run`."""
        return await self._awrite(finish_ops(run_id, status, error, self._clock()))

    async def arecord_model_call(
        self,
        info: Mapping[str, Any],
        *,
        run_id: str | None = None,
        thread_id: str | None = None,
        node: str | None = None,
        error_class: str | None = None,
    ) -> ModelCallRecord:
        """Async twin of :meth:`record_model_call`."""
        return await self._awrite(model_call_ops(info, run_id, thread_id, node, error_class, self._clock()))

    async def arecord_tool_call(
        self,
        tool: str,
        *,
        status: ToolStatus = "ok",
        latency_s: float = 0.0,
        run_id: str | None = None,
        thread_id: str | None = None,
        node: str | None = None,
        error_class: str | None = None,
    ) -> ToolCallRecord:
        """Async twin of :meth:`record_tool_call`."""
        ops = tool_call_ops(tool, status, latency_s, run_id, thread_id, node, error_class, self._clock())
        return await self._awrite(ops)

    async def aruns(
        self,
        *,
        thread_id: str | None = None,
        graph: str | None = None,
        status: RunStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[RunRecord]:
        """Async twin of :meth:`runs`."""
        query = runs_query(thread_id, graph, status, since, until, limit)
        return await self._aread(select_ops(query, RunRecord.from_row))

    async def aget_run(self, run_id: str) -> RunRecord | None:
        """Async twin of :meth:`get_run`."""
        found = await self._aread(select_ops(run_query(run_id), RunRecord.from_row))
        return found[0] if found else None

    async def amodel_calls(
        self,
        *,
        run_id: str | None = None,
        thread_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[ModelCallRecord]:
        """Async twin of :meth:`model_calls`."""
        query = calls_query(model_calls, run_id, thread_id, since, until)
        return await self._aread(select_ops(query, ModelCallRecord.from_row))

    async def atool_calls(
        self,
        *,
        run_id: str | None = None,
        thread_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[ToolCallRecord]:
        """Async twin of :meth:`tool_calls`."""
        query = calls_query(tool_calls, run_id, thread_id, since, until)
        return await self._aread(select_ops(query, ToolCallRecord.from_row))

    async def acosts(
        self,
        group_by: Sequence[CostGroup] | CostGroup = ("model",),
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        run_id: str | None = None,
        thread_id: str | None = None,
    ) -> list[CostRow]:
        """Async twin of :meth:`costs`."""
        return await self._aread(costs_ops(group_by, since, until, run_id, thread_id))

    async def arun_summary(self, run_id: str) -> RunSummary:
        """Async twin of :meth:`run_summary`."""
        return await self._aread(summary_ops(run_id))
