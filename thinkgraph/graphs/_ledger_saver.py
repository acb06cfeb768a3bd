"""``LedgerFlushingSaver``: the graph's checkpointer, writing queued ledger records before each write.

A graph with a ledger and a checkpointer queues each model call record in the ledger (see
:meth:`thinkgraph.memory.Ledger.defer_model_call`) instead of writing it while the node waits.
This saver, which LangGraph gets in place of the graph's checkpointer, writes the queued records
(one transaction) before every checkpoint and every write of a task's results. So a checkpoint is
never durable before the model calls made ahead of it, which is what a resumed thread relies on:
the steps a resume does not repeat have their calls in the ledger, and calls of a step that was
interrupted by a crash before its results were saved are made again (and recorded) on resume.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)

__all__ = ["LedgerFlushingSaver"]

T = TypeVar("T")


def _sqlite_in_threads(resource: Any) -> bool:
    """Whether ``resource`` is thinkgraph's SQL checkpointer or ledger on SQLite (whose async
    writes run their sync twins in a worker thread)."""
    from thinkgraph.memory import Ledger, SQLCheckpointer

    return isinstance(resource, SQLCheckpointer | Ledger) and resource.engines.dialect == "sqlite"


class LedgerFlushingSaver(BaseCheckpointSaver[Any]):
    """Delegates to ``inner``; writes the ledger's queued records before each checkpoint write.

    Args:
        inner: the checkpointer that stores the checkpoints.
        ledger: the ledger whose queued records (``flush``/``aflush``) go first.
    """

    def __init__(self, inner: BaseCheckpointSaver[Any], ledger: Any) -> None:
        super().__init__(serde=inner.serde)
        self.inner = inner
        self.ledger = ledger
        self._one_hop = _sqlite_in_threads(inner) and _sqlite_in_threads(ledger)

    async def _after_flush(self, method: Callable[..., T], *args: Any) -> T:
        """Flush the ledger, then run the inner saver's sync ``method``, in one worker-thread hop.

        Only for SQLite savers whose async methods run their sync twins in a worker thread anyway
        (sqlite3 has no non-blocking API): one hop instead of two.
        """

        def both() -> T:
            self.ledger.flush()
            return method(*args)

        return await asyncio.to_thread(both)

    def __getattr__(self, name: str) -> Any:
        # anything else the inner saver offers (setup, engines ...)
        if name in ("inner", "ledger"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def config_specs(self) -> list[Any]:
        """The inner saver's configuration specs."""
        return list(self.inner.config_specs)

    def with_allowlist(self, extra_allowlist: Any) -> LedgerFlushingSaver:
        """The same wrapping around the inner saver's copy with a msgpack allowlist."""
        return LedgerFlushingSaver(self.inner.with_allowlist(extra_allowlist), self.ledger)

    def get_next_version(self, current: Any, channel: None) -> Any:
        """The inner saver's next channel version."""
        return self.inner.get_next_version(current, channel)

    # --- writes: queued ledger records first ----------------------------------------------

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Write the queued ledger records, then the checkpoint."""
        self.ledger.flush()
        return self.inner.put(config, checkpoint, metadata, new_versions)

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Async twin of :meth:`put`."""
        if self._one_hop:
            return await self._after_flush(self.inner.put, config, checkpoint, metadata, new_versions)
        await self.ledger.aflush()
        return await self.inner.aput(config, checkpoint, metadata, new_versions)

    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        """Write the queued ledger records, then a task's writes."""
        self.ledger.flush()
        self.inner.put_writes(config, writes, task_id, task_path)

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        """Async twin of :meth:`put_writes`."""
        if self._one_hop:
            await self._after_flush(self.inner.put_writes, config, writes, task_id, task_path)
            return
        await self.ledger.aflush()
        await self.inner.aput_writes(config, writes, task_id, task_path)

    # --- everything else: delegated -------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The inner saver's checkpoint tuple."""
        return self.inner.get_tuple(config)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Async twin of :meth:`get_tuple`."""
        return await self.inner.aget_tuple(config)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """The inner saver's checkpoints."""
        return self.inner.list(config, filter=filter, before=before, limit=limit)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Async twin of :meth:`list`."""
        async for item in self.inner.alist(config, filter=filter, before=before, limit=limit):
            yield item

    def delete_thread(self, thread_id: str) -> None:
        """Delegated to the inner saver."""
        self.inner.delete_thread(thread_id)

    async def adelete_thread(self, thread_id: str) -> None:
        """Delegated to the inner saver."""
        await self.inner.adelete_thread(thread_id)

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delegated to the inner saver."""
        self.inner.delete_for_runs(run_ids)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delegated to the inner saver."""
        await self.inner.adelete_for_runs(run_ids)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Delegated to the inner saver."""
        self.inner.copy_thread(source_thread_id, target_thread_id)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Delegated to the inner saver."""
        await self.inner.acopy_thread(source_thread_id, target_thread_id)

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Delegated to the inner saver."""
        self.inner.prune(thread_ids, strategy=strategy)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Delegated to the inner saver."""
        await self.inner.aprune(thread_ids, strategy=strategy)

    def get_delta_channel_history(self, *args: Any, **kwargs: Any) -> Any:
        """Delegated to the inner saver."""
        return self.inner.get_delta_channel_history(*args, **kwargs)

    async def aget_delta_channel_history(self, *args: Any, **kwargs: Any) -> Any:
        """Delegated to the inner saver."""
        return await self.inner.aget_delta_channel_history(*args, **kwargs)
