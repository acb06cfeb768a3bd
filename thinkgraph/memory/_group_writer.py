"""Group commit for the async callers' SQLite writes.

sqlite3 has no non-blocking API, so an async write runs in a thread either way. Instead of one
thread hop and one transaction per write, :class:`GroupWriter` queues the writes of every event
loop to one thread per :class:`~thinkgraph.memory.Engines`, which runs all the writes waiting at
that moment in one ``BEGIN IMMEDIATE`` transaction, each in a savepoint of its own (a write that
fails is rolled back alone and its error goes to its caller). A caller resumes only once the
transaction holding its write has committed, so a write is as durable as with one transaction
each; LangGraph's ``aput_writes`` and ``aput`` of one step typically share a commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, TypeVar

__all__ = ["GroupWriter"]

T = TypeVar("T")

MAX_BATCH = 64  # writes per transaction at most

Work = Callable[[Any], Any]  # runs statements on a DBAPI cursor, returns the caller's result
_Item = tuple[Work, asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


def _deliver(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # the caller was cancelled: the write happened all the same
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class GroupWriter:
    """Runs async callers' writes on one thread, as many per transaction as are waiting.

    Args:
        transaction: opens the write transaction and gives its DBAPI cursor (commits on a clean
            exit, rolls back on an error): ``Engines.raw_write``.
    """

    def __init__(self, transaction: Callable[[], AbstractContextManager[Any]]) -> None:
        self._transaction = transaction
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._start = threading.Lock()

    async def run(self, work: Callable[[Any], T]) -> T:
        """Run ``work(cursor)`` in the next transaction and return its result once committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._ensure_thread()
        self._queue.put((work, loop, future))
        return await future

    def close(self) -> None:
        """Let the thread finish the writes queued so far, then stop it."""
        thread = self._thread
        if thread is not None and self._pid == os.getpid() and thread.is_alive():
            self._queue.put(None)
            thread.join()
        self._thread = None

    def _ensure_thread(self) -> None:
        thread = self._thread
        if thread is not None and self._pid == os.getpid() and thread.is_alive():
            return
        with self._start:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                if self._pid != os.getpid():  # a forked child: the parent's queue is not ours
                    self._queue = queue.SimpleQueue()
                self._pid = os.getpid()
                # a daemon: a process that never closes its engines must still be able to exit
                self._thread = threading.Thread(
                    target=self._serve, name="thinkgraph-sqlite-writes", daemon=True
                )
                self._thread.start()

    def _batches(self) -> Iterator[list[_Item]]:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            yield batch
            if stop:
                return

    def _serve(self) -> None:
        for batch in self._batches():
            outcomes = self._commit(batch)
            for (_, loop, future), (ok, value) in zip(batch, outcomes, strict=True):
                # a closed event loop raises RuntimeError: nobody waits for that write any more
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_deliver, future, ok, value)

    def _commit(self, batch: list[_Item]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self._transaction() as cursor:
                for work, _, _ in batch:
                    cursor.execute("SAVEPOINT tg_write")
                    try:
                        outcomes.append((True, work(cursor)))
                    except BaseException as exc:
                        cursor.execute("ROLLBACK TO tg_write")
                        outcomes.append((False, exc))
                    cursor.execute("RELEASE tg_write")
        except BaseException as exc:
            return [(False, exc)] * len(batch)
        return outcomes
