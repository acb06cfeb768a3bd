"""The published LangGraph checkpointer conformance suite, on every dialect, async and sync paths.

``validate`` only calls the async methods, so it runs twice: on ``SQLCheckpointer`` itself (the
native async path) and through an adapter whose async methods call the sync ones in a thread
(the sync path). Both must pass all 81 tests (58 base + 23 extended).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata, CheckpointTuple
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.report import CapabilityReport

from thinkgraph.memory import SQLCheckpointer


class SyncRoutedCheckpointer(SQLCheckpointer):
    """Every async method runs the sync method in a thread, so the suite exercises the sync path."""

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await asyncio.to_thread(self.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        def collect() -> list[CheckpointTuple]:
            return list(self.list(config, filter=filter, before=before, limit=limit))

        for item in await asyncio.to_thread(collect):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await asyncio.to_thread(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        await asyncio.to_thread(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await asyncio.to_thread(self.delete_thread, thread_id)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await asyncio.to_thread(self.delete_for_runs, run_ids)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await asyncio.to_thread(self.copy_thread, source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await asyncio.to_thread(self.prune, thread_ids, strategy=strategy)


def _assert_all_passed(report: CapabilityReport) -> None:
    failures = [f"{cap}: {failure}" for cap, result in report.results.items() for failure in result.failures]
    for failure in failures:
        print(failure)
    passed = sum(result.tests_passed for result in report.results.values())
    failed = sum(result.tests_failed for result in report.results.values())
    assert report.passed_all_base(), failures
    assert report.passed_all(), failures
    assert (passed, failed) == (81, 0), failures


async def _run(db_url: str, cls: type[SQLCheckpointer]) -> CapabilityReport:
    saver = cls(db_url)
    await saver.asetup()

    @checkpointer_test(name=cls.__name__)
    async def factory() -> AsyncIterator[SQLCheckpointer]:
        # one database (an in-memory one included) shared by every suite
        yield saver

    try:
        return await validate(factory)
    finally:
        await saver.aclose()


async def test_conformance_async_api(db_url: str) -> None:
    _assert_all_passed(await _run(db_url, SQLCheckpointer))


async def test_conformance_sync_api(db_url: str) -> None:
    _assert_all_passed(await _run(db_url, SyncRoutedCheckpointer))


def test_sync_adapter_overrides_every_async_method() -> None:
    """The adapter must override each a* method, or the suite would skip its capability."""
    names = [
        "aget_tuple",
        "alist",
        "aput",
        "aput_writes",
        "adelete_thread",
        "adelete_for_runs",
        "acopy_thread",
    ]
    names.append("aprune")
    overridden: Iterator[bool] = (name in SyncRoutedCheckpointer.__dict__ for name in names)
    assert all(overridden)
