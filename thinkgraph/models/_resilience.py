"""Retry backoff and circuit breakers: pure policy, with injectable clock, sleep and randomness."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["BreakerRegistry", "BreakerState", "RetryPolicy"]

BreakerState = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, honouring the provider's ``Retry-After``.

    The n-th retry (n = 0, 1, ...) waits ``uniform(0, min(cap, base * 2**n))``; when the provider
    sent ``Retry-After`` we wait at least that long. A ``Retry-After`` longer than
    ``max_retry_after`` is not waited for: the model is given up and the chain falls over.

    Attributes:
        base: first backoff ceiling in seconds.
        cap: largest backoff in seconds.
        max_retry_after: longest ``Retry-After`` we are willing to wait.
        jitter: randomise the wait (full jitter); ``False`` waits the ceiling exactly.
        sleep: the coroutine used to wait (inject a fake one in tests).
        sync_sleep: the function used to wait in synchronous calls (``invoke``/``stream``).
        rand: a ``[0, 1)`` random source (inject a fixed one in tests).
    """

    base: float = 0.5
    cap: float = 8.0
    max_retry_after: float = 30.0
    jitter: bool = True
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)
    sync_sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    rand: Callable[[], float] = field(default=random.random, repr=False)

    def delay(self, retry_index: int, retry_after: float | None) -> float | None:
        """Seconds to wait before retry number ``retry_index``; ``None`` means do not retry."""
        if retry_after is not None and retry_after > self.max_retry_after:
            return None
        ceiling = min(self.cap, self.base * (2**retry_index))
        wait = float(ceiling * self.rand()) if self.jitter else float(ceiling)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return wait


@dataclass(slots=True)
class _Breaker:
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False


class BreakerRegistry:
    """Circuit breakers per (provider, model, api_base); thread- and task-safe.

    After ``threshold`` consecutive failures a breaker opens: calls skip the model at once. After
    ``cooldown`` seconds it is half-open: one call (the probe) goes through while others keep
    skipping; a success closes it, a failure opens it again for another cooldown.

    Share one registry between models (pass ``breakers=``) to share what they learned.

    Attributes:
        threshold: consecutive failures that open a breaker.
        cooldown: seconds a breaker stays open before a probe is allowed.
        clock: monotonic clock (inject a fake one in tests).
    """

    def __init__(
        self, *, threshold: int = 3, cooldown: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if threshold < 1 or cooldown < 0:
            raise ValueError(f"threshold must be >= 1 and cooldown >= 0, got {threshold!r} and {cooldown!r}")
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self._lock = threading.Lock()
        self._breakers: dict[tuple[str, str, str], _Breaker] = {}

    def __repr__(self) -> str:
        return f"BreakerRegistry(threshold={self.threshold}, cooldown={self.cooldown})"

    def state(self, key: tuple[str, str, str]) -> BreakerState:
        """The state of the breaker for ``key`` (``"closed"`` when never seen)."""
        with self._lock:
            breaker = self._breakers.get(key)
            if breaker is None or breaker.opened_at is None:
                return "closed"
            if self.clock() - breaker.opened_at >= self.cooldown:
                return "half_open"
            return "open"

    def allow(self, key: tuple[str, str, str]) -> bool:
        """Whether a call to ``key`` may go ahead now; claims the probe slot when half-open."""
        with self._lock:
            breaker = self._breakers.get(key)
            if breaker is None or breaker.opened_at is None:
                return True
            if self.clock() - breaker.opened_at < self.cooldown or breaker.probing:
                return False
            breaker.probing = True
            return True

    def record_success(self, key: tuple[str, str, str]) -> None:
        """A call to ``key`` succeeded: close its breaker."""
        with self._lock:
            self._breakers.pop(key, None)

    def record_failure(self, key: tuple[str, str, str]) -> None:
        """A call to ``key`` failed: count it, opening (or re-opening) the breaker at the threshold."""
        with self._lock:
            breaker = self._breakers.setdefault(key, _Breaker())
            breaker.failures += 1
            if breaker.probing or breaker.failures >= self.threshold:
                breaker.opened_at = self.clock()
            breaker.probing = False

    def release(self, key: tuple[str, str, str]) -> None:
        """A call ended without a verdict on the model's health: free the probe slot."""
        with self._lock:
            breaker = self._breakers.get(key)
            if breaker is not None:
                breaker.probing = False

    def reset(self) -> None:
        """Forget every breaker."""
        with self._lock:
            self._breakers.clear()
