"""``SQLCheckpointer``: LangGraph checkpoints in SQLite, PostgreSQL or MySQL/MariaDB.

One object serves sync and async callers. Channel values are stored once per (channel, version)
in a blobs table, so a step stores only what changed; small scalars (``None``, booleans, 64-bit
integers, floats, strings of up to 256 characters) travel in the checkpoint row instead, as the
official PostgreSQL saver does. ``list`` and ``get_tuple`` read checkpoints, their blobs and their
pending writes in a fixed number of statements per page.

The hot paths skip SQLAlchemy's per-execution layers (see ``_rawsql``): ``put``/``put_writes``
and the reads without a metadata filter run prebuilt statements on the driver's cursor (SQLite;
PostgreSQL with psycopg, where a ``put`` is one pipeline); async SQLite writes share transactions
on one writer thread (``_group_writer``).
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from functools import partial
from typing import Any, TypeVar

import sqlalchemy.exc
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from sqlalchemy import URL, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from thinkgraph.exceptions import ConfigError, PersistenceError, SchemaTooOldError
from thinkgraph.memory._checkpointer_plans import CheckpointPlans, ListCursor
from thinkgraph.memory._checkpointer_sql import Plan, adrive, araw_drive, drive, raw_drive
from thinkgraph.memory._engine import Engines
from thinkgraph.memory._migrate import aupgrade, upgrade
from thinkgraph.memory._rawsql import RawCompiler
from thinkgraph.memory._resource import EngineResource

__all__ = ["SQLCheckpointer"]

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 500


class _Pages:
    """The pages of one ``list`` call: how many rows the next reads, and the trim to ``limit``."""

    def __init__(self, page_size: int, limit: int | None) -> None:
        self.page_size = page_size
        self.remaining = limit
        self.cursor: ListCursor | None = None
        self.last = False

    def next_limit(self) -> int | None:
        """Rows for the next page; ``None`` when the listing is over."""
        if self.last or (self.remaining is not None and self.remaining <= 0):
            return None
        return self.page_size if self.remaining is None else min(self.page_size, self.remaining)

    def take(self, page: tuple[list[CheckpointTuple], ListCursor | None]) -> list[CheckpointTuple]:
        """The tuples of a page that still count, remembering where the next page starts."""
        tuples, self.cursor = page
        self.last = self.cursor is None
        if self.remaining is not None:
            tuples = tuples[: self.remaining]
            self.remaining -= len(tuples)
        return tuples


class SQLCheckpointer(EngineResource, BaseCheckpointSaver[str]):
    """A LangGraph checkpointer on SQLAlchemy Core, with native sync and async methods.

    Example::

        saver = SQLCheckpointer("sqlite:///agent.db")
        graph = builder.compile(checkpointer=saver)
        graph.invoke(inputs, {"configurable": {"thread_id": "t1"}})

    Args:
        target: a database URL (``sqlite:///file.db``, ``postgresql://user@host/db``,
            ``mysql://user@host/db``...), an ``Engine``/``AsyncEngine`` or :class:`Engines`.
            ``None`` uses the configured ``THINKGRAPH_DATABASE_URL``.
        serde: the serializer (default ``JsonPlusSerializer`` without pickle fallback;
            ``EncryptedSerializer`` works).
        auto_setup: apply migrations on first use (otherwise call :meth:`setup` first; an
            outdated schema then raises ``SchemaTooOldError``).
        page_size: how many checkpoints ``list`` reads per round of statements.
    """

    def __init__(
        self,
        target: str | URL | Engine | AsyncEngine | Engines | None = None,
        *,
        serde: SerializerProtocol | None = None,
        auto_setup: bool = True,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        super().__init__(serde=serde or JsonPlusSerializer())
        if target is None:
            from thinkgraph._settings import load_settings

            target = load_settings().database_url
        if page_size < 1:
            raise ConfigError(f"page_size must be at least 1, got {page_size!r}")
        self._bind(target)
        self.auto_setup = auto_setup
        self.page_size = page_size
        self._ready = False
        self._lock = threading.Lock()

    @property
    def plans(self) -> CheckpointPlans:
        """The statement plans (rebuilt when the serializer changes, e.g. by ``with_allowlist``)."""
        plans = self.__dict__.get("_plans")
        if plans is None or plans.serde is not self.serde:
            plans = CheckpointPlans(self.serde, self.engines.dialect)
            self.__dict__["_plans"] = plans
        return plans

    # --- lifecycle ------------------------------------------------------------------------

    def setup(self) -> str:
        """Apply pending migrations (idempotent, safe across processes); return the revision."""
        revision = upgrade(self.engines)
        self._ready = True
        return revision

    async def asetup(self) -> str:
        """Async twin of :meth:`setup`."""
        revision = await aupgrade(self.engines)
        self._ready = True
        return revision

    def _ensure(self) -> None:
        if self._ready:
            return
        with self._lock:
            if not self._ready:
                if self.auto_setup:
                    self.setup()
                else:
                    from thinkgraph.memory._migrate import check_schema, schema_revision

                    check_schema(schema_revision(self.engines), self.engines.url)
                    self._ready = True

    async def _aensure(self) -> None:
        if self._ready:
            return
        if self.auto_setup:
            await self.asetup()
        else:
            from thinkgraph.memory._migrate import aschema_revision, check_schema

            check_schema(await aschema_revision(self.engines), self.engines.url)
            self._ready = True

    # --- running plans --------------------------------------------------------------------

    def _failed(self, what: str, exc: Exception) -> PersistenceError:
        orig = getattr(exc, "orig", None) or exc
        message = f"{what} on {self.engines.url!r} failed: {type(orig).__name__}: {orig}"
        if "no such table" in str(orig) or "does not exist" in str(orig) or "doesn't exist" in str(orig):
            return SchemaTooOldError(message + "; run 'thinkgraph db upgrade' or call setup()")
        return PersistenceError(message)

    def _compiler(self, async_: bool) -> RawCompiler:
        """The raw-SQL compiler of the sync or async engine's dialect (they differ on PostgreSQL)."""
        compilers: dict[bool, RawCompiler] = self.__dict__.setdefault("_compilers", {})
        if async_ not in compilers:
            engine = self.engines.async_ if async_ else self.engines.sync
            compilers[async_] = RawCompiler(engine.dialect)
        return compilers[async_]

    def _write(self, what: str, plan: Plan[T]) -> T:
        """Run a write plan in one transaction."""
        self._ensure()
        try:
            with self.engines.write() as conn:
                return drive(conn, plan)
        except sqlalchemy.exc.DBAPIError as exc:
            raise self._failed(what, exc) from exc

    def _retried(self, what: str, errors: type[Exception], attempt: Callable[[], T]) -> T:
        """``attempt()``, once more if it met a lost connection (the pools have no pre-ping)."""
        for retry in (True, False):
            try:
                return attempt()
            except errors as exc:
                if not (retry and self.engines.is_disconnect(exc)):
                    raise self._failed(what, exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _aretried(self, what: str, errors: type[Exception], attempt: Callable[[], Awaitable[T]]) -> T:
        """Async twin of :meth:`_retried`."""
        for retry in (True, False):
            try:
                return await attempt()
            except errors as exc:
                if not (retry and self.engines.is_disconnect(exc)):
                    raise self._failed(what, exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _on_cursor(
        self, what: str, cursor: Callable[[], AbstractContextManager[Any]], build: Callable[[], Plan[T]]
    ) -> T:
        """Run a plan of prebuilt statements on a driver cursor from ``cursor()`` (see ``_rawsql``),
        once more if it met a lost connection."""

        def attempt() -> T:
            with cursor() as opened:
                return raw_drive(opened, self._compiler(False), build())

        return self._retried(what, self.engines.sync.dialect.loaded_dbapi.Error, attempt)

    async def _aon_cursor(
        self, what: str, cursor: Callable[[], AbstractAsyncContextManager[Any]], build: Callable[[], Plan[T]]
    ) -> T:
        """Async twin of :meth:`_on_cursor`."""

        async def attempt() -> T:
            async with cursor() as opened:
                return await araw_drive(opened, self._compiler(True), build())

        return await self._aretried(what, self.engines.async_.dialect.loaded_dbapi.Error, attempt)

    def _put(self, what: str, build: Callable[[], Plan[T]]) -> T:
        """Run an idempotent write plan whose statements may commit one by one (``put``,
        ``put_writes``): on the DBAPI cursor with statements compiled once (see ``_rawsql``) where
        the driver allows it, in autocommit mode on PostgreSQL, retried once on a lost connection.
        """
        if not self.engines.raw_writes:
            return self._write(what, build())
        self._ensure()
        return self._on_cursor(what, partial(self.engines.raw_write, pipeline=True), build)

    def _read(self, what: str, build: Callable[[], Plan[T]], *, prebuilt: bool = False) -> T:
        """Run a read plan; a plan of ``prebuilt`` statements runs on the driver's cursor where the
        engines allow it (SQLite, PostgreSQL from a URL: see ``Engines.raw_reads``)."""
        self._ensure()
        if prebuilt and self.engines.raw_reads:
            return self._on_cursor(what, self.engines.raw_read, build)

        def attempt() -> T:
            with self.engines.fast_read() as conn:
                return drive(conn, build())

        return self._retried(what, sqlalchemy.exc.DBAPIError, attempt)

    async def _awrite(self, what: str, plan: Plan[T]) -> T:
        await self._aensure()
        if self.engines.dialect == "sqlite":
            # sqlite3 has no non-blocking API (aiosqlite runs it in a thread too, one hop per
            # statement): run the whole plan in one worker-thread hop instead
            return await asyncio.to_thread(self._write, what, plan)
        try:
            async with self.engines.awrite() as conn:
                return await adrive(conn, plan)
        except sqlalchemy.exc.DBAPIError as exc:
            raise self._failed(what, exc) from exc

    async def _aput(self, what: str, build: Callable[[], Plan[T]]) -> T:
        """Async twin of :meth:`_put`."""
        if self.engines.dialect == "sqlite" and self.engines.raw_writes:
            await self._aensure()
            compiler = self._compiler(False)
            try:
                return await self.engines.agroup_write(lambda cursor: raw_drive(cursor, compiler, build()))
            except self.engines.sync.dialect.loaded_dbapi.Error as exc:
                raise self._failed(what, exc) from exc
        if not self.engines.araw_writes:
            return await self._awrite(what, build())
        await self._aensure()
        return await self._aon_cursor(what, partial(self.engines.araw_write, pipeline=True), build)

    async def _aread(self, what: str, build: Callable[[], Plan[T]], *, prebuilt: bool = False) -> T:
        await self._aensure()
        if self.engines.dialect == "sqlite":
            return await asyncio.to_thread(self._read, what, build, prebuilt=prebuilt)
        if prebuilt and self.engines.araw_reads:
            return await self._aon_cursor(what, self.engines.araw_read, build)

        async def attempt() -> T:
            async with self.engines.afast_read() as conn:
                return await adrive(conn, build())

        return await self._aretried(what, sqlalchemy.exc.DBAPIError, attempt)

    # --- sync API -------------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint named by ``config``, or the thread's latest when it names none."""
        return self._read("get_tuple", lambda: self.plans.get_tuple(config), prebuilt=True)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints newest first, filtered by thread/namespace, metadata, ``before`` and ``limit``."""
        pages = _Pages(self.page_size, limit)
        while (page_limit := pages.next_limit()) is not None:
            page = partial(
                self.plans.list_page,
                config,
                filter=filter,
                before=before,
                after=pages.cursor,
                limit=page_limit,
            )
            # without a metadata filter every statement of a page is prebuilt
            yield from pages.take(self._read("list", page, prebuilt=not filter))

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """LangGraph's ``DeltaChannel`` history (each channel's writes since its nearest stored
        value, and that value), read ``page_size`` ancestors per round of three statements."""
        plan = partial(self.plans.delta_history, config, list(channels), self.page_size)
        return self._read("get_delta_channel_history", plan, prebuilt=True)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint; channel values are stored only for ``new_versions``."""
        return self._put("put", lambda: self.plans.put(config, checkpoint, metadata, new_versions))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store the pending writes of a task for the checkpoint in ``config``."""
        if writes:
            self._put("put_writes", lambda: self.plans.put_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint, blob and write of a thread."""
        self._write("delete_thread", self.plans.delete_threads([thread_id]))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints written by these runs, with their writes and unused blobs."""
        if run_ids:
            self._write("delete_for_runs", self.plans.delete_for_runs(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy every checkpoint, blob and write of a thread to another thread id."""
        self._write("copy_thread", self.plans.copy_thread(source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """``keep_latest``: keep each namespace's newest checkpoint (and the ancestors its
        ``DeltaChannel`` values are rebuilt from); ``delete``: delete the threads."""
        plan = self._prune_plan(thread_ids, strategy)
        if plan is not None:
            self._write("prune", plan)

    def _prune_plan(self, thread_ids: Sequence[str], strategy: str) -> Plan[Any] | None:
        if strategy not in ("keep_latest", "delete"):
            raise ConfigError(f"unknown prune strategy {strategy!r}: use 'keep_latest' or 'delete'")
        if not thread_ids:
            return None
        if strategy == "delete":
            return self.plans.delete_threads(thread_ids)
        return self.plans.prune(thread_ids, keep_last=1)

    def get_next_version(self, current: str | int | None, channel: None = None) -> str:
        """A version string that sorts after ``current`` (a counter plus a random tie-breaker)."""
        number = 0 if current is None else int(str(current).split(".")[0])
        return f"{number + 1:032}.{random.random():016}"

    # --- async API ------------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Async twin of :meth:`get_tuple`."""
        return await self._aread("get_tuple", lambda: self.plans.get_tuple(config), prebuilt=True)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Async twin of :meth:`list`."""
        pages = _Pages(self.page_size, limit)
        while (page_limit := pages.next_limit()) is not None:
            page = partial(
                self.plans.list_page,
                config,
                filter=filter,
                before=before,
                after=pages.cursor,
                limit=page_limit,
            )
            for item in pages.take(await self._aread("list", page, prebuilt=not filter)):
                yield item

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """Async twin of :meth:`get_delta_channel_history`."""
        plan = partial(self.plans.delta_history, config, list(channels), self.page_size)
        return await self._aread("get_delta_channel_history", plan, prebuilt=True)

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Async twin of :meth:`put`."""
        return await self._aput("put", lambda: self.plans.put(config, checkpoint, metadata, new_versions))

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Async twin of :meth:`put_writes`."""
        if writes:
            await self._aput("put_writes", lambda: self.plans.put_writes(config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        """Async twin of :meth:`delete_thread`."""
        await self._awrite("delete_thread", self.plans.delete_threads([thread_id]))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Async twin of :meth:`delete_for_runs`."""
        if run_ids:
            await self._awrite("delete_for_runs", self.plans.delete_for_runs(run_ids))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Async twin of :meth:`copy_thread`."""
        await self._awrite("copy_thread", self.plans.copy_thread(source_thread_id, target_thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Async twin of :meth:`prune`."""
        plan = self._prune_plan(thread_ids, strategy)
        if plan is not None:
            await self._awrite("prune", plan)
