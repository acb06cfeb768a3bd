"""The attempt loop: one call over a fallback chain, with classified retries and circuit breakers."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import InputTokenDetails, OutputTokenDetails, UsageMetadata
from langchain_core.messages.tool import tool_call_chunk

from thinkgraph.exceptions import (
    AllProvidersFailed,
    Attempt,
    AuthenticationError,
    BadRequestError,
    ContentFilteredError,
    ContextWindowExceededError,
    MalformedResponseError,
    ProviderError,
)
from thinkgraph.models._convert import (
    ReasoningAccumulator,
    parse_tool_calls,
    reasoning_from_message,
    to_litellm_messages,
)
from thinkgraph.models._errors import classify_error
from thinkgraph.models._metadata import CALL_KEY, REASONING_KEY, AttemptInfo, CallInfo, Reasoning
from thinkgraph.models._profiles import (
    ProviderProfile,
    api_key_env_of,
    is_local,
    litellm_module,
    profile_for,
    provider_of,
)
from thinkgraph.models._resilience import BreakerRegistry, RetryPolicy
from thinkgraph.models._spec import ModelSpec
from thinkgraph.models._usage import Tokens, context_window_of, cost_of, tokens_of

__all__ = [
    "CallPlan",
    "Chain",
    "StreamState",
    "call_info",
    "chunk_from_delta",
    "message_from_response",
    "request_kwargs",
    "run_call",
    "run_stream",
    "usage_metadata",
]

_LOCAL_PLACEHOLDER_KEY = "sk-local-no-key-required"
_SKIPPED_MESSAGE = "circuit open after repeated failures; skipped until the cooldown ends"


@dataclass(frozen=True, slots=True)
class CallPlan:
    """Everything one call needs; immutable, built per call."""

    chain: tuple[ModelSpec, ...]
    retry: RetryPolicy
    breakers: BreakerRegistry
    messages: Sequence[BaseMessage]
    params: dict[str, Any] = field(default_factory=dict)
    completion: Callable[..., Awaitable[Any]] | None = None
    """Replaces ``litellm.acompletion`` (tests use it to script what HTTP cannot)."""
    sync_completion: Callable[..., Any] | None = None
    """Replaces ``litellm.completion`` in synchronous calls."""


def request_kwargs(
    spec: ModelSpec, profile: ProviderProfile, plan: CallPlan, *, stream: bool
) -> dict[str, Any]:
    """litellm keyword arguments for one attempt (the key is read from the environment now)."""
    kwargs: dict[str, Any] = {
        "model": spec.model,
        "messages": to_litellm_messages(plan.messages, profile),
        "timeout": spec.timeout,
        "num_retries": 0,
        "max_retries": 0,
        "drop_params": True,
        # litellm 1.106 routes any call with tools through its MCP gateway check, which imports the
        # optional ``mcp`` package; we never use that gateway, so skip it (a per-call switch).
        "_skip_mcp_handler": True,
    }
    if spec.api_base:
        kwargs["api_base"] = spec.api_base
    env = api_key_env_of(spec)
    key = os.environ.get(env) if env else None
    if key:
        kwargs["api_key"] = key
    elif is_local(spec) or profile.local:
        kwargs["api_key"] = _LOCAL_PLACEHOLDER_KEY  # OpenAI-compatible clients insist on some key
    elif spec.api_key_env:
        raise AuthenticationError(
            f"environment variable {spec.api_key_env!r} is not set; export the API key under that name",
            model=spec.model,
        )
    if spec.temperature is not None:
        kwargs["temperature"] = spec.temperature
    if spec.max_tokens is not None:
        kwargs["max_tokens"] = spec.max_tokens
    if spec.reasoning_effort is not None and profile.reasoning_effort:
        kwargs["reasoning_effort"] = spec.reasoning_effort
    kwargs.update(spec.params)
    for name, value in plan.params.items():
        if value is None:
            continue
        if name == "parallel_tool_calls" and not profile.parallel_tools:
            continue
        kwargs[name] = value
    if stream:
        kwargs["stream"] = True
        kwargs["stream_options"] = {"include_usage": True}
    return kwargs


def usage_metadata(tokens: Tokens) -> UsageMetadata:
    return UsageMetadata(
        input_tokens=tokens.input,
        output_tokens=tokens.output,
        total_tokens=tokens.input + tokens.output,
        input_token_details=InputTokenDetails(cache_read=tokens.cached),
        output_token_details=OutputTokenDetails(reasoning=tokens.reasoning),
    )


def _attempt_info(attempt: Attempt) -> AttemptInfo:
    return AttemptInfo(
        model=attempt.model,
        provider=attempt.provider,
        error_class=attempt.error_class,
        message=attempt.message,
        latency_s=attempt.latency_s,
        skipped=attempt.skipped,
    )


def call_info(
    plan: CallPlan, spec: ModelSpec, attempts: list[Attempt], started: float, tokens: Tokens
) -> CallInfo:
    cost = cost_of(spec, spec.model, tokens)
    return CallInfo(
        requested_model=plan.chain[0].model,
        model=spec.model,
        provider=provider_of(spec.model),
        attempts=[_attempt_info(a) for a in attempts],
        fallback=spec is not plan.chain[0],
        latency_s=time.perf_counter() - started,
        input_tokens=tokens.input,
        output_tokens=tokens.output,
        cached_tokens=tokens.cached,
        reasoning_tokens=tokens.reasoning,
        cost_usd=cost,
        unpriced=cost is None,
    )


def message_from_response(response: Any, spec: ModelSpec) -> tuple[AIMessage, Tokens]:
    """An AIMessage (without call info yet) from a litellm ``ModelResponse``; validates it."""
    choices = getattr(response, "choices", None)
    if not choices:
        raise MalformedResponseError("the response has no choices", model=spec.model)
    choice = choices[0]
    message = getattr(choice, "message", None)
    if message is None:
        raise MalformedResponseError("the response choice has no message", model=spec.model)
    finish_reason = getattr(choice, "finish_reason", None)
    content = getattr(message, "content", None)
    tool_calls, invalid = parse_tool_calls(getattr(message, "tool_calls", None))
    if finish_reason == "content_filter" and not content and not tool_calls:
        raise ContentFilteredError("the provider's safety filter refused to answer", model=spec.model)
    tokens = tokens_of(getattr(response, "usage", None))
    reasoning = reasoning_from_message(
        message, provider=provider_of(spec.model), model=spec.model, reasoning_tokens=tokens.reasoning
    )
    ai = AIMessage(
        content=content if isinstance(content, str) else "",
        tool_calls=tool_calls,
        invalid_tool_calls=invalid,
        additional_kwargs={REASONING_KEY: dict(reasoning)} if reasoning else {},
        response_metadata={"model_name": getattr(response, "model", None), "finish_reason": finish_reason},
        usage_metadata=usage_metadata(tokens),
        id=getattr(response, "id", None),
    )
    return ai, tokens


class Chain:
    """Walks the fallback chain for one call, keeping the attempts and the failover state."""

    def __init__(self, plan: CallPlan) -> None:
        self.plan = plan
        self.attempts: list[Attempt] = []
        self.started = time.perf_counter()
        self.min_window: float | None = None
        self.last_error: ProviderError | None = None

    def candidates(self) -> Iterator[tuple[ModelSpec, ProviderProfile, tuple[str, str, str]]]:
        """The chain's models to try, in order, each asked :meth:`eligible` when its turn comes."""
        for spec, profile, key in [(spec, profile_for(spec), spec.key) for spec in self.plan.chain]:
            if self.eligible(spec, key):
                yield spec, profile, key

    def eligible(self, spec: ModelSpec, key: tuple[str, str, str]) -> bool:
        """Whether to try ``spec`` now; records a skipped attempt when its breaker is open."""
        if self.min_window is not None:
            window = context_window_of(spec)
            if window is None or window <= self.min_window:
                return False
        if not self.plan.breakers.allow(key):
            self.attempts.append(
                Attempt(spec.model, key[0], "ProviderUnavailableError", _SKIPPED_MESSAGE, 0.0, True)
            )
            return False
        return True

    def failed(
        self, exc: BaseException, spec: ModelSpec, key: tuple[str, str, str], t0: float
    ) -> ProviderError:
        """Classify and record a failed attempt; re-raise what is not a provider failure."""
        error = classify_error(exc, spec.model)
        if error is None:
            self.plan.breakers.release(key)
            raise exc
        self.attempts.append(
            Attempt(spec.model, key[0], type(error).__name__, str(error), time.perf_counter() - t0)
        )
        self.last_error = error
        if isinstance(error, ContextWindowExceededError):
            window = context_window_of(spec)
            self.min_window = max(self.min_window or 0, window if window is not None else math.inf)
            self.plan.breakers.release(key)
        elif isinstance(error, BadRequestError):
            self.plan.breakers.release(key)
            raise error from exc
        elif isinstance(error, ContentFilteredError):
            self.plan.breakers.release(key)
        else:
            self.plan.breakers.record_failure(key)
        return error

    def retry_delay(
        self, error: ProviderError, spec: ModelSpec, key: tuple[str, str, str], n: int
    ) -> float | None:
        """Seconds to wait before retrying ``spec``; ``None`` when it gets no further attempt."""
        if not error.retryable or n >= spec.max_retries or self.plan.breakers.state(key) == "open":
            return None
        return self.plan.retry.delay(n, error.retry_after)

    async def should_retry(
        self, error: ProviderError, spec: ModelSpec, key: tuple[str, str, str], n: int
    ) -> bool:
        """Wait the backoff and return True when ``spec`` deserves another attempt."""
        delay = self.retry_delay(error, spec, key, n)
        if delay is None:
            return False
        await self.plan.retry.sleep(delay)
        return True

    def succeeded(self, spec: ModelSpec, key: tuple[str, str, str], t0: float) -> None:
        self.plan.breakers.record_success(key)
        self.attempts.append(Attempt(spec.model, key[0], None, "", time.perf_counter() - t0))

    def exhausted(self) -> AllProvidersFailed:
        error = AllProvidersFailed(self.attempts)
        error.__cause__ = self.last_error
        return error


async def run_call(plan: CallPlan) -> AIMessage:
    """Call the chain until one model answers; the AIMessage carries :class:`CallInfo`.

    Raises:
        BadRequestError: the request is malformed (no retry, no fallback).
        AllProvidersFailed: every model failed or was skipped; lists every attempt.
    """
    acompletion = plan.completion or litellm_module().acompletion
    chain = Chain(plan)
    for spec, profile, key in chain.candidates():
        n = 0
        while True:
            t0 = time.perf_counter()
            try:
                request = request_kwargs(spec, profile, plan, stream=False)
                response = await asyncio.wait_for(acompletion(**request), spec.timeout)
                message, tokens = message_from_response(response, spec)
            except asyncio.CancelledError:
                plan.breakers.release(key)
                raise
            except Exception as exc:
                error = chain.failed(exc, spec, key, t0)
                if await chain.should_retry(error, spec, key, n):
                    n += 1
                    continue
                break
            chain.succeeded(spec, key, t0)
            message.response_metadata[CALL_KEY] = call_info(plan, spec, chain.attempts, chain.started, tokens)
            return message
    raise chain.exhausted()


def chunk_from_delta(delta: Any, reasoning: ReasoningAccumulator) -> AIMessageChunk | None:
    content = getattr(delta, "content", None) or ""
    chunks = [
        tool_call_chunk(
            name=getattr(getattr(raw, "function", None), "name", None),
            args=getattr(getattr(raw, "function", None), "arguments", None),
            id=getattr(raw, "id", None),
            index=getattr(raw, "index", None),
        )
        for raw in getattr(delta, "tool_calls", None) or []
    ]
    thinking = reasoning.add(delta)
    if not content and not chunks and not thinking:
        return None
    return AIMessageChunk(
        content=content,
        tool_call_chunks=chunks,
        additional_kwargs={"reasoning_content": thinking} if thinking else {},
    )


class StreamState:
    """What one stream has told us so far (besides the chunks it yielded)."""

    def __init__(self, spec: ModelSpec, stream: Any) -> None:
        self.spec = spec
        self.stream = stream
        self.reasoning = ReasoningAccumulator()
        self.usage: Any = None
        self.finish_reason: str | None = None
        self.model_name: str | None = None

    def absorb(self, item: Any) -> AIMessageChunk | None:
        """Take one litellm stream chunk; return the message chunk worth emitting, if any."""
        self.usage = getattr(item, "usage", None) or self.usage
        self.model_name = getattr(item, "model", None) or self.model_name
        choices = getattr(item, "choices", None) or []
        if not choices:
            return None
        self.finish_reason = getattr(choices[0], "finish_reason", None) or self.finish_reason
        return chunk_from_delta(getattr(choices[0], "delta", None), self.reasoning)

    def check_first(self, chunk: AIMessageChunk | None) -> AIMessageChunk | None:
        """A stream that ends without anything worth emitting is malformed.

        One that says nothing yet reports output tokens is a legitimate empty answer (``None``).
        """
        if chunk is None and tokens_of(self.usage).output == 0:
            raise MalformedResponseError("the stream ended without any content", model=self.spec.model)
        return chunk

    def final_chunk(
        self, plan: CallPlan, chain: Chain, key: tuple[str, str, str], t0: float
    ) -> AIMessageChunk:
        """Record the success and build the last chunk: usage, call info, the whole reasoning."""
        spec = self.spec
        chain.succeeded(spec, key, t0)
        tokens = tokens_of(self.usage)
        final: Reasoning | None = self.reasoning.result(
            provider=provider_of(spec.model), model=spec.model, reasoning_tokens=tokens.reasoning
        )
        info = call_info(plan, spec, chain.attempts, chain.started, tokens)
        return AIMessageChunk(
            content="",
            additional_kwargs={REASONING_KEY: dict(final)} if final else {},
            response_metadata={
                CALL_KEY: info,
                "model_name": self.model_name,
                "finish_reason": self.finish_reason,
            },
            usage_metadata=usage_metadata(tokens),
            chunk_position="last",
        )


class _AsyncStreamState(StreamState):
    def __init__(self, spec: ModelSpec, stream: Any) -> None:
        super().__init__(spec, stream)
        self.iterator = stream.__aiter__()

    async def next_chunk(self) -> AIMessageChunk | None:
        """The next chunk worth emitting; ``None`` at the end of the stream."""
        while True:
            try:
                item = await asyncio.wait_for(self.iterator.__anext__(), self.spec.timeout)
            except StopAsyncIteration:
                return None
            chunk = self.absorb(item)
            if chunk is not None:
                return chunk

    async def first_chunk(self) -> AIMessageChunk | None:
        return self.check_first(await self.next_chunk())


async def run_stream(plan: CallPlan) -> AsyncIterator[AIMessageChunk]:
    """Stream from the first model that starts answering; fall over only before the first chunk.

    Nothing is emitted until a chunk with content, a tool call or reasoning arrives, so a model
    that fails before that (error, timeout, empty or broken stream) is retried or falls over
    invisibly. The last chunk carries ``usage_metadata``, the :class:`CallInfo` and the full
    :class:`Reasoning`.

    Raises:
        BadRequestError: the request is malformed.
        AllProvidersFailed: no model started streaming.
        ProviderError: the stream broke after it had started (no fallover then).
    """
    acompletion = plan.completion or litellm_module().acompletion
    chain = Chain(plan)
    for spec, profile, key in chain.candidates():
        n = 0
        while True:
            t0 = time.perf_counter()
            stream: Any = None
            try:
                request = request_kwargs(spec, profile, plan, stream=True)
                stream = await asyncio.wait_for(acompletion(**request), spec.timeout)
                state = _AsyncStreamState(spec, stream)
                first = await state.first_chunk()
            except asyncio.CancelledError:
                plan.breakers.release(key)
                await _close(stream)
                raise
            except Exception as exc:
                await _close(stream)
                error = chain.failed(exc, spec, key, t0)
                if await chain.should_retry(error, spec, key, n):
                    n += 1
                    continue
                break
            async for chunk in _relay(plan, chain, key, t0, state, first):
                yield chunk
            return
    raise chain.exhausted()


async def _close(stream: Any) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        with contextlib.suppress(Exception):  # closing a broken stream must not hide the real error
            await close()


async def _relay(
    plan: CallPlan,
    chain: Chain,
    key: tuple[str, str, str],
    t0: float,
    state: _AsyncStreamState,
    first: AIMessageChunk | None,
) -> AsyncIterator[AIMessageChunk]:
    spec = state.spec
    chunk = first
    try:
        while chunk is not None:
            yield chunk
            chunk = await state.next_chunk()
    except (asyncio.CancelledError, GeneratorExit):
        plan.breakers.release(key)
        raise
    except Exception as exc:
        error = classify_error(exc, spec.model)
        plan.breakers.release(key)
        if error is None:
            raise
        raise error from exc
    finally:
        await _close(state.stream)
    yield state.final_chunk(plan, chain, key, t0)
