"""Retention of checkpoints: keep the newest N per thread, delete threads idle for too long.

These are library calls for maintenance jobs (a cron, a CLI command); they reuse the
checkpointer's deletion logic, so blobs no longer used by any checkpoint are removed too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, select

from thinkgraph.exceptions import ConfigError
from thinkgraph.memory._checkpointer import SQLCheckpointer
from thinkgraph.memory._checkpointer_sql import Plan, Step
from thinkgraph.memory._schema import checkpoints

__all__ = [
    "adelete_threads_older_than",
    "aprune_checkpoints",
    "delete_threads_older_than",
    "prune_checkpoints",
]


def _check_keep(keep_last: int) -> None:
    if keep_last < 1:
        raise ConfigError(
            f"keep_last must be at least 1, got {keep_last!r}; to delete threads use prune(strategy='delete')"
        )


def _check_age(age: timedelta) -> datetime:
    if age <= timedelta(0):
        raise ConfigError(f"age must be positive, got {age!r}")
    return datetime.now(UTC) - age


def prune_checkpoints(
    saver: SQLCheckpointer, *, keep_last: int, thread_ids: Sequence[str] | None = None
) -> int:
    """Keep only the ``keep_last`` newest checkpoints of each thread namespace (and the older ones
    their ``DeltaChannel`` values are rebuilt from, back to the last snapshot).

    Args:
        saver: the checkpointer whose database is pruned.
        keep_last: how many checkpoints to keep per (thread, namespace); at least 1.
        thread_ids: the threads to prune; ``None`` prunes every thread.

    Returns:
        How many checkpoints were deleted.
    """
    _check_keep(keep_last)
    return saver._write("prune_checkpoints", saver.plans.prune(thread_ids, keep_last=keep_last))


async def aprune_checkpoints(
    saver: SQLCheckpointer, *, keep_last: int, thread_ids: Sequence[str] | None = None
) -> int:
    """Async twin of :func:`prune_checkpoints`."""
    _check_keep(keep_last)
    return await saver._awrite("prune_checkpoints", saver.plans.prune(thread_ids, keep_last=keep_last))


def _stale_threads(cutoff: datetime) -> Plan[list[str]]:
    c = checkpoints.c
    query = (
        select(c.thread_id)
        .group_by(c.thread_id)
        .having(func.max(c.created_at) < cutoff)
        .order_by(c.thread_id)
    )
    rows: list[Row[Any]] = yield Step(query, fetch=True)
    return [row.thread_id for row in rows]


def _delete_stale(saver: SQLCheckpointer, cutoff: datetime) -> Plan[list[str]]:
    stale = yield from _stale_threads(cutoff)
    if stale:
        yield from saver.plans.delete_threads(stale)
    return stale


def delete_threads_older_than(saver: SQLCheckpointer, age: timedelta) -> list[str]:
    """Delete the threads whose newest checkpoint is older than ``age``.

    Returns:
        The ids of the deleted threads, sorted.
    """
    cutoff = _check_age(age)
    return saver._write("delete_threads_older_than", _delete_stale(saver, cutoff))


async def adelete_threads_older_than(saver: SQLCheckpointer, age: timedelta) -> list[str]:
    """Async twin of :func:`delete_threads_older_than`."""
    cutoff = _check_age(age)
    return await saver._awrite("delete_threads_older_than", _delete_stale(saver, cutoff))
