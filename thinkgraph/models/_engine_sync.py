"""The synchronous attempt loop (``invoke``/``stream``) over ``litellm.completion``.

Same policy as :mod:`thinkgraph.models._engine` (it shares the :class:`Chain` bookkeeping); only
the I/O differs. Sync calls use litellm's sync HTTP client instead of running the async path on
a throwaway event loop, which would strand litellm's cached aiohttp sessions on dead loops.
Each attempt is bounded by the spec's ``timeout``, which litellm applies to connecting and to
every read (a stream that stalls between chunks times out too).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk

from thinkgraph.models._engine import (
    CallPlan,
    Chain,
    StreamState,
    call_info,
    message_from_response,
    request_kwargs,
)
from thinkgraph.models._errors import classify_error
from thinkgraph.models._metadata import CALL_KEY
from thinkgraph.models._profiles import litellm_module

__all__ = ["run_call_sync", "run_stream_sync"]


def _should_retry(chain: Chain, error: Any, spec: Any, key: tuple[str, str, str], n: int) -> bool:
    delay = chain.retry_delay(error, spec, key, n)
    if delay is None:
        return False
    chain.plan.retry.sync_sleep(delay)
    return True


def run_call_sync(plan: CallPlan) -> AIMessage:
    """Synchronous twin of :func:`~thinkgraph.models._engine.run_call`."""
    completion = plan.sync_completion or litellm_module().completion
    chain = Chain(plan)
    for spec, profile, key in chain.candidates():
        n = 0
        while True:
            t0 = time.perf_counter()
            try:
                response = completion(**request_kwargs(spec, profile, plan, stream=False))
                message, tokens = message_from_response(response, spec)
            except Exception as exc:
                error = chain.failed(exc, spec, key, t0)
                if _should_retry(chain, error, spec, key, n):
                    n += 1
                    continue
                break
            chain.succeeded(spec, key, t0)
            message.response_metadata[CALL_KEY] = call_info(plan, spec, chain.attempts, chain.started, tokens)
            return message
    raise chain.exhausted()


class _SyncStreamState(StreamState):
    def __init__(self, spec: Any, stream: Any) -> None:
        super().__init__(spec, stream)
        self.iterator = iter(stream)

    def next_chunk(self) -> AIMessageChunk | None:
        for item in self.iterator:
            chunk = self.absorb(item)
            if chunk is not None:
                return chunk
        return None


def _close(stream: Any) -> None:
    close = getattr(stream, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()


def run_stream_sync(plan: CallPlan) -> Iterator[AIMessageChunk]:
    """Synchronous twin of :func:`~thinkgraph.models._engine.run_stream` (same fallover rule)."""
    completion = plan.sync_completion or litellm_module().completion
    chain = Chain(plan)
    for spec, profile, key in chain.candidates():
        n = 0
        while True:
            t0 = time.perf_counter()
            stream: Any = None
            try:
                stream = completion(**request_kwargs(spec, profile, plan, stream=True))
                state = _SyncStreamState(spec, stream)
                first = state.check_first(state.next_chunk())
            except Exception as exc:
                _close(stream)
                error = chain.failed(exc, spec, key, t0)
                if _should_retry(chain, error, spec, key, n):
                    n += 1
                    continue
                break
            yield from _relay(plan, chain, key, t0, state, first)
            return
    raise chain.exhausted()


def _relay(
    plan: CallPlan,
    chain: Chain,
    key: tuple[str, str, str],
    t0: float,
    state: _SyncStreamState,
    first: AIMessageChunk | None,
) -> Iterator[AIMessageChunk]:
    chunk = first
    try:
        while chunk is not None:
            yield chunk
            chunk = state.next_chunk()
    except GeneratorExit:
        plan.breakers.release(key)
        raise
    except Exception as exc:
        error = classify_error(exc, state.spec.model)
        plan.breakers.release(key)
        if error is None:
            raise
        raise error from exc
    finally:
        _close(state.stream)
    yield state.final_chunk(plan, chain, key, t0)
