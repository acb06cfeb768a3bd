"""Group commit for the async callers' SQLite writes.

sqlite3 has no non-blocking API, so an async write runs in a thread either way. Instead of one
thread hop and one transaction per write, :class:`GroupWriter` queues the writes of every event
loop for one thread per :class:`~thinkgraph.memory.Engines`, which takes the writer lock and runs
all the writes waiting at that moment in one ``BEGIN IMMEDIATE`` transaction, each in a savepoint
of its own (a write that fails is rolled back alone and its error goes to its caller).

A caller resumes only once the transaction holding its write has committed, so a write is as
durable as with one transaction each; LangGraph's ``aput_writes`` and ``aput`` of one step
typically share a commit. (Sync writers gain nothing measurable from this: they keep one
transaction each, under the same lock.)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

__all__ = ["GroupWriter"]

T = TypeVar("T")

MAX_BATCH = 64  # writes per transaction at most

Work = Callable[[Any], Any]  # runs statements on a DBAPI cursor, returns the caller's result


class _Write:
    """One queued write: what to run, and the future of the caller waiting for it."""

    __slots__ = ("future", "loop", "work")

    def __init__(self, work: Work, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any]) -> None:
        self.work = work
        self.loop = loop
        self.future = future

    def finish(self, ok: bool, value: Any) -> None:
        # a closed event loop raises RuntimeError: nobody waits for that write any more
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(_deliver, self.future, ok, value)


def _deliver(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # the caller was cancelled: the write happened all the same
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class GroupWriter:
    """Runs async callers' writes on one thread under ``lock``, as many per transaction as wait.

    Args:
        lock: the writer lock of the database (every other writer of the process takes it too).
        transaction: opens a write transaction and gives its DBAPI cursor (commits on a clean
            exit, rolls back on an error); called with ``lock`` held.
    """

    def __init__(self, lock: threading.Lock, transaction: Callable[[], AbstractContextManager[Any]]) -> None:
        self._lock = lock
        self._transaction = transaction
        self._pending: deque[_Write] = deque()
        self._wake: queue.SimpleQueue[bool] = queue.SimpleQueue()  # False: stop
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._start = threading.Lock()

    async def run(self, work: Callable[[Any], T]) -> T:
        """Run ``work(cursor)`` in the next transaction on the writer thread; return its result
        once committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._ensure_thread()
        self._pending.append(_Write(work, loop, future))
        self._wake.put(True)
        return await future

    def close(self) -> None:
        """Let the thread finish the writes queued so far, then stop it."""
        thread = self._thread
        if thread is not None and self._pid == os.getpid() and thread.is_alive():
            self._wake.put(False)
            thread.join()
        self._thread = None

    def _ensure_thread(self) -> None:
        if self._alive():
            return
        with self._start:
            if not self._alive():
                if self._pid != os.getpid():  # a forked child: the parent's queues are not ours
                    self._pending, self._wake = deque(), queue.SimpleQueue()
                self._pid = os.getpid()
                # a daemon: a process that never closes its engines must still be able to exit
                self._thread = threading.Thread(
                    target=self._serve, name="thinkgraph-sqlite-writes", daemon=True
                )
                self._thread.start()

    def _alive(self) -> bool:
        thread = self._thread
        return thread is not None and self._pid == os.getpid() and thread.is_alive()

    def _serve(self) -> None:
        while self._wake.get():
            with self._lock:
                self._drain()
        with self._lock:  # stopping: what is still queued is written first
            self._drain()

    def _drain(self) -> None:
        """Run the queued writes, a transaction per :data:`MAX_BATCH` (call with the lock held)."""
        while self._pending:
            batch: list[_Write] = []
            while self._pending and len(batch) < MAX_BATCH:
                batch.append(self._pending.popleft())
            outcomes = self._commit(batch)
            for write, (ok, value) in zip(batch, outcomes, strict=True):
                write.finish(ok, value)

    def _commit(self, batch: list[_Write]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self._transaction() as cursor:
                if len(batch) == 1:  # alone in its transaction: an error rolls it back whole
                    return [(True, batch[0].work(cursor))]
                for write in batch:
                    cursor.execute("SAVEPOINT tg_write")
                    try:
                        outcomes.append((True, write.work(cursor)))
                    except BaseException as exc:  # the caller gets it, whatever it is
                        cursor.execute("ROLLBACK TO tg_write")
                        outcomes.append((False, exc))
                    cursor.execute("RELEASE tg_write")
        except BaseException as exc:  # BEGIN or COMMIT failed: nothing was written
            return [(False, exc)] * len(batch)
        return outcomes
