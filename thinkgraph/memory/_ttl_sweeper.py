"""A background thread that deletes a store's expired items at a fixed interval."""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable

__all__ = ["TTLSweeper"]

logger = logging.getLogger(__name__)


class TTLSweeper:
    """Calls ``sweep()`` every interval on a daemon thread, from :meth:`start` until :meth:`stop`.

    A sweep that fails is logged and the next one runs on time: a database that is down for a
    while must not end the sweeping for good.
    """

    def __init__(self, sweep: Callable[[], int]) -> None:
        self._sweep = sweep
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._future: concurrent.futures.Future[None] = concurrent.futures.Future()

    def start(self, interval_seconds: float) -> concurrent.futures.Future[None]:
        """Start sweeping (or keep the sweeper already running); return a future that finishes
        when it stops. Cancelling the future stops it too."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return self._future
            stop, future = threading.Event(), concurrent.futures.Future[None]()
            future.add_done_callback(lambda f: stop.set() if f.cancelled() else None)
            thread = threading.Thread(
                target=self._run,
                args=(interval_seconds, stop, future),
                name="thinkgraph-ttl-sweeper",
                daemon=True,
            )
            self._thread, self._stop, self._future = thread, stop, future
            thread.start()
            return future

    def stop(self, timeout: float | None = None) -> bool:
        """Stop sweeping; whether the thread ended within ``timeout`` seconds (or was not running)."""
        with self._lock:
            thread = self._thread
            if thread is None or not thread.is_alive():
                return True
            self._stop.set()
        thread.join(timeout)
        return not thread.is_alive()

    def _run(self, interval: float, stop: threading.Event, future: concurrent.futures.Future[None]) -> None:
        while not stop.wait(interval):
            try:
                deleted = self._sweep()
            except Exception:
                logger.exception("the store's TTL sweep failed; the next one runs in %.0f s", interval)
            else:
                if deleted:
                    logger.info("the store's TTL sweep deleted %d expired items", deleted)
        if future.set_running_or_notify_cancel():
            future.set_result(None)
