"""Backoff (with Retry-After) and circuit breakers, with injected clocks and randomness."""

from __future__ import annotations

import threading

import pytest
from tg_models_support import Clock

from thinkgraph.models import BreakerRegistry, RetryPolicy

KEY = ("openai", "openai/gpt-4o-mini", "")


def test_backoff_is_exponential_and_capped() -> None:
    policy = RetryPolicy(base=0.5, cap=4.0, jitter=False)
    assert [policy.delay(n, None) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_full_jitter_scales_the_ceiling() -> None:
    policy = RetryPolicy(base=1.0, cap=10.0, rand=lambda: 0.25)
    assert policy.delay(0, None) == 0.25
    assert policy.delay(2, None) == 1.0


def test_retry_after_is_a_floor() -> None:
    policy = RetryPolicy(base=0.1, cap=1.0, jitter=False)
    assert policy.delay(0, 3.0) == 3.0  # the provider asked for longer than our backoff
    assert policy.delay(5, 0.2) == 1.0  # our backoff is longer than what it asked


def test_retry_after_beyond_the_limit_gives_up() -> None:
    policy = RetryPolicy(max_retry_after=10.0)
    assert policy.delay(0, 11.0) is None
    assert policy.delay(0, 10.0) is not None


def test_breaker_opens_after_threshold_and_half_opens_after_cooldown() -> None:
    clock = Clock(100.0)
    breakers = BreakerRegistry(threshold=3, cooldown=10.0, clock=clock)
    assert breakers.state(KEY) == "closed"
    for _ in range(2):
        assert breakers.allow(KEY)
        breakers.record_failure(KEY)
    assert breakers.state(KEY) == "closed"
    breakers.record_failure(KEY)
    assert breakers.state(KEY) == "open"
    assert not breakers.allow(KEY)
    clock.now += 9.9
    assert not breakers.allow(KEY)
    clock.now += 0.1
    assert breakers.state(KEY) == "half_open"
    assert breakers.allow(KEY)  # the probe
    assert not breakers.allow(KEY)  # only one probe at a time
    breakers.record_success(KEY)
    assert breakers.state(KEY) == "closed"
    assert breakers.allow(KEY)


def test_failed_probe_reopens_for_a_new_cooldown() -> None:
    clock = Clock(100.0)
    breakers = BreakerRegistry(threshold=1, cooldown=5.0, clock=clock)
    breakers.record_failure(KEY)
    clock.now += 5.0
    assert breakers.allow(KEY)
    breakers.record_failure(KEY)
    assert breakers.state(KEY) == "open"
    clock.now += 4.0
    assert not breakers.allow(KEY)
    clock.now += 1.0
    assert breakers.allow(KEY)


def test_released_probe_lets_another_probe_through() -> None:
    clock = Clock(100.0)
    breakers = BreakerRegistry(threshold=1, cooldown=1.0, clock=clock)
    breakers.record_failure(KEY)
    clock.now += 2.0
    assert breakers.allow(KEY)
    breakers.release(KEY)  # e.g. the probe hit a bad request: no verdict
    assert breakers.allow(KEY)
    breakers.release(("x", "y", "z"))  # unknown keys are fine


def test_success_resets_the_failure_count() -> None:
    breakers = BreakerRegistry(threshold=2)
    breakers.record_failure(KEY)
    breakers.record_success(KEY)
    breakers.record_failure(KEY)
    assert breakers.state(KEY) == "closed"


def test_keys_are_independent_and_reset_forgets() -> None:
    breakers = BreakerRegistry(threshold=1)
    other = ("openai", "openai/gpt-4o-mini", "http://127.0.0.1:1/v1")
    breakers.record_failure(KEY)
    assert breakers.state(KEY) == "open"
    assert breakers.state(other) == "closed"
    breakers.reset()
    assert breakers.state(KEY) == "closed"
    assert "threshold=1" in repr(breakers)


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="threshold"):
        BreakerRegistry(threshold=0)


def test_breaker_is_thread_safe() -> None:
    breakers = BreakerRegistry(threshold=10_000, cooldown=60)

    def hammer() -> None:
        for _ in range(1000):
            breakers.allow(KEY)
            breakers.record_failure(KEY)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert breakers._breakers[KEY].failures == 8000
