"""The fault matrix: every injected fault through a 3-model chain, over real HTTP.

Also: Retry-After honoured, circuit breakers skipping a dead model, timeouts bounding every
attempt, streams falling over only before their first chunk, and a cross-vendor fallback in the
middle of a tool loop that sends no foreign reasoning.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from tg_models_support import FAKE_KEY_ENV, FAST_RETRY, Clock, chat, spec_for

from thinkgraph.exceptions import (
    AllProvidersFailed,
    AuthenticationError,
    BadRequestError,
    ProviderUnavailableError,
)
from thinkgraph.models import BreakerRegistry, ChatModel, ModelSpec, RetryPolicy, call_info_of, reasoning_of
from thinkgraph.models._engine import CallPlan, run_stream
from thinkgraph.testing import FakeProvider, Fault, Reply, ToolCall

HANG_TIMEOUT = 0.5  # the attempt timeout of a model scripted to hang
TIMEOUT = 10.0  # everyone else's: generous, so a loaded machine cannot make a healthy call time out
PRIMARY = "openai/gpt-4o-mini"  # 128k context in litellm's map
SMALL = "openai/small-local"  # context_window=8000 (spec override)
LARGE = "anthropic/claude-sonnet-4-5"  # 200k context

FAULTS: dict[str, Fault] = {
    "rate_limit": Fault.rate_limit(retry_after=0),
    "server_error": Fault.server_error(),
    "unavailable": Fault.unavailable(),
    "auth": Fault.auth(),
    "context_window": Fault.context_window(),
    "content_filter": Fault.content_filter(),
    "bad_request": Fault.bad_request(),
    "hang": Fault.hang(),
    "drop": Fault.drop(),
    "malformed": Fault.malformed(),
}
ERROR_CLASS = {
    "rate_limit": "RateLimitedError",
    "server_error": "ProviderUnavailableError",
    "unavailable": "ProviderUnavailableError",
    "auth": "AuthenticationError",
    "context_window": "ContextWindowExceededError",
    "content_filter": "ContentFilteredError",
    "bad_request": "BadRequestError",
    "hang": "ProviderTimeoutError",
    "drop": "ProviderUnavailableError",
    "malformed": "MalformedResponseError",
}
RETRYABLE = {"rate_limit", "server_error", "unavailable", "hang", "drop", "malformed"}


def _chain(fake: FakeProvider, primary_timeout: float, other_timeout: float) -> ChatModel:
    return ChatModel(
        spec_for(fake, PRIMARY, "p", timeout=primary_timeout, max_retries=1),
        fallbacks=[
            spec_for(fake, SMALL, "m", context_window=8000, timeout=other_timeout, max_retries=1),
            spec_for(fake, LARGE, "s", timeout=other_timeout, max_retries=1),
        ],
        retry=FAST_RETRY,
        breakers=BreakerRegistry(threshold=100),
    )


async def _call(model: ChatModel, stream: bool | str) -> AIMessage | AIMessageChunk:
    messages = [HumanMessage("hello")]
    if stream == "sync_invoke":
        return model.invoke(messages)
    if stream == "sync_stream":
        chunks = list(model.stream(messages))
    elif not stream:
        return await model.ainvoke(messages)
    else:
        chunks = [c async for c in model.astream(messages)]
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    return total


def _sequence(info_or_attempts: Any) -> list[tuple[str, str | None]]:
    attempts = info_or_attempts["attempts"] if isinstance(info_or_attempts, dict) else info_or_attempts
    out = []
    for a in attempts:
        model, error = (a["model"], a["error_class"]) if isinstance(a, dict) else (a.model, a.error_class)
        out.append((model, error))
    return out


@pytest.mark.parametrize(
    "stream",
    [False, True, "sync_invoke", "sync_stream"],
    ids=["invoke", "stream", "sync_invoke", "sync_stream"],
)
@pytest.mark.parametrize("kind", list(FAULTS))
async def test_fault_matrix_primary_fails(fresh_fake: FakeProvider, kind: str, stream: bool | str) -> None:
    fault, error = FAULTS[kind], ERROR_CLASS[kind]
    fresh_fake.script("p", fault, fault)
    fresh_fake.script("m", Reply(text="from small"))
    fresh_fake.script("s", Reply(text="from large"))
    timeout = HANG_TIMEOUT if kind == "hang" else TIMEOUT
    model = _chain(fresh_fake, timeout, TIMEOUT)
    started = time.perf_counter()
    if kind == "bad_request":
        with pytest.raises(BadRequestError) as caught:
            await _call(model, stream)
        assert type(caught.value) is BadRequestError
        assert fresh_fake.requests_for("m") == [] and fresh_fake.requests_for("s") == []
        assert len(fresh_fake.requests_for("p")) == 1
        return
    reply = await _call(model, stream)
    elapsed = time.perf_counter() - started
    info = call_info_of(reply)
    assert info is not None and info["fallback"] and info["requested_model"] == PRIMARY
    tries = 2 if kind in RETRYABLE else 1
    if kind == "context_window":
        # the 8k model is not larger than the 128k primary: skipped without a request
        assert _sequence(info) == [(PRIMARY, error), (LARGE, None)]
        assert reply.content == "from large" and info["model"] == LARGE
        assert fresh_fake.requests_for("m") == []
    else:
        assert _sequence(info) == [(PRIMARY, error)] * tries + [(SMALL, None)]
        assert reply.content == "from small" and info["model"] == SMALL
    assert len(fresh_fake.requests_for("p")) == tries
    if kind == "hang":
        assert elapsed < tries * HANG_TIMEOUT + 2.0  # no attempt outlived its timeout


@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
@pytest.mark.parametrize("kind", [k for k in FAULTS if k != "bad_request"])
async def test_fault_matrix_all_fail(fresh_fake: FakeProvider, kind: str, stream: bool) -> None:
    fault, error = FAULTS[kind], ERROR_CLASS[kind]
    for deployment in ("p", "m", "s"):
        fresh_fake.set_default(deployment, fault)
    timeout = HANG_TIMEOUT if kind == "hang" else TIMEOUT
    started = time.perf_counter()
    with pytest.raises(AllProvidersFailed) as caught:
        await _call(_chain(fresh_fake, timeout, timeout), stream)
    elapsed = time.perf_counter() - started
    tries = 2 if kind in RETRYABLE else 1
    if kind == "context_window":
        expected = [(PRIMARY, error), (LARGE, error)]
    else:
        expected = [(m, error) for m in (PRIMARY, SMALL, LARGE) for _ in range(tries)]
    assert _sequence(caught.value.attempts) == expected
    assert all(a.provider in ("openai", "anthropic") and a.latency_s >= 0 for a in caught.value.attempts)
    assert error in str(caught.value) and "add a fallback" in str(caught.value)
    assert isinstance(caught.value.__cause__, Exception)
    if kind == "hang":
        assert elapsed < len(expected) * HANG_TIMEOUT + 3.0  # every attempt was bounded


async def test_retry_after_is_honoured(fresh_fake: FakeProvider) -> None:
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    fresh_fake.script("p", Fault.rate_limit(retry_after=2), Fault.rate_limit(retry_after=3), Reply(text="ok"))
    model = ChatModel(
        spec_for(fresh_fake, PRIMARY, "p", max_retries=2),
        retry=RetryPolicy(base=0.01, cap=0.02, jitter=False, sleep=record),
    )
    reply = await model.ainvoke("hi")
    assert reply.content == "ok"
    assert slept == [2.0, 3.0]
    assert _sequence(call_info_of(reply)) == [(PRIMARY, "RateLimitedError")] * 2 + [(PRIMARY, None)]


async def test_retry_after_too_long_falls_over_without_waiting(fresh_fake: FakeProvider) -> None:
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    fresh_fake.script("p", Fault.rate_limit(retry_after=120))
    fresh_fake.script("s", Reply(text="fallback"))
    model = ChatModel(
        spec_for(fresh_fake, PRIMARY, "p", max_retries=3),
        fallbacks=[spec_for(fresh_fake, LARGE, "s")],
        retry=RetryPolicy(max_retry_after=30, sleep=record),
    )
    reply = await model.ainvoke("hi")
    assert reply.content == "fallback" and slept == []


async def test_circuit_breaker_skips_a_dead_model_then_probes(fresh_fake: FakeProvider) -> None:
    clock = Clock()
    breakers = BreakerRegistry(threshold=2, cooldown=30, clock=clock)
    fresh_fake.set_default("p", Fault.unavailable())
    model = ChatModel(
        spec_for(fresh_fake, PRIMARY, "p", max_retries=1),
        fallbacks=[spec_for(fresh_fake, LARGE, "s")],
        retry=FAST_RETRY,
        breakers=breakers,
    )
    first = await model.ainvoke("1")
    assert _sequence(call_info_of(first)) == [(PRIMARY, "ProviderUnavailableError")] * 2 + [(LARGE, None)]
    assert breakers.state(("openai", PRIMARY, spec_for(fresh_fake, PRIMARY, "p").api_base or "")) == "open"

    started = time.perf_counter()
    second = await model.ainvoke("2")
    info = call_info_of(second)
    assert info is not None
    assert [(a["model"], a["skipped"]) for a in info["attempts"]] == [(PRIMARY, True), (LARGE, False)]
    assert info["attempts"][0]["latency_s"] == 0.0
    assert len(fresh_fake.requests_for("p")) == 2  # no request while open
    assert time.perf_counter() - started < 1.0

    # every model open: AllProvidersFailed lists the skipped attempts
    only_primary = ChatModel(spec_for(fresh_fake, PRIMARY, "p"), retry=FAST_RETRY, breakers=breakers)
    with pytest.raises(AllProvidersFailed, match="skipped: circuit open") as caught:
        await only_primary.ainvoke("3")
    assert [a.skipped for a in caught.value.attempts] == [True]

    clock.now += 31  # half-open: one probe goes through and succeeds
    fresh_fake.set_default("p", Reply(text="back"))
    third = await model.ainvoke("4")
    assert third.content == "back" and not call_info_of(third)["fallback"]  # type: ignore[index]
    assert await model.ainvoke("5") is not None
    assert len(fresh_fake.requests_for("p")) == 4


async def test_breaker_is_shared_by_concurrent_calls(fresh_fake: FakeProvider) -> None:
    import asyncio

    breakers = BreakerRegistry(threshold=1, cooldown=60)
    fresh_fake.set_default("p", Fault.server_error())
    model = ChatModel(
        spec_for(fresh_fake, PRIMARY, "p"),
        fallbacks=[spec_for(fresh_fake, LARGE, "s")],
        retry=FAST_RETRY,
        breakers=breakers,
    )
    await model.ainvoke("warm")  # opens the breaker
    replies = await asyncio.gather(*(model.ainvoke(f"q{i}") for i in range(20)))
    assert all(call_info_of(r)["model"] == LARGE for r in replies)  # type: ignore[index]
    assert len(fresh_fake.requests_for("p")) == 1


async def test_auth_and_content_filter_skip_retries(fresh_fake: FakeProvider) -> None:
    fresh_fake.script("p", Fault.auth())
    with pytest.raises(AllProvidersFailed) as caught:
        await ChatModel(spec_for(fresh_fake, PRIMARY, "p", max_retries=5), retry=FAST_RETRY).ainvoke("x")
    assert _sequence(caught.value.attempts) == [(PRIMARY, "AuthenticationError")]
    assert isinstance(caught.value.__cause__, AuthenticationError)


async def test_missing_key_variable_falls_over(
    fresh_fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("THINKGRAPH_TEST_UNSET_KEY", raising=False)
    fresh_fake.script("s", Reply(text="second"))
    model = ChatModel(
        ModelSpec(
            model="openai/gpt-4o",
            api_base="https://api.example.invalid/v1",
            api_key_env="THINKGRAPH_TEST_UNSET_KEY",
        ),
        fallbacks=[spec_for(fresh_fake, LARGE, "s")],
        retry=FAST_RETRY,
    )
    reply = await model.ainvoke("x")
    attempts = call_info_of(reply)["attempts"]  # type: ignore[index]
    assert attempts[0]["error_class"] == "AuthenticationError"
    assert "THINKGRAPH_TEST_UNSET_KEY" in attempts[0]["message"]


async def test_content_filter_finish_reason_falls_over(fresh_fake: FakeProvider) -> None:
    fresh_fake.script("p", Reply(text="", finish_reason="content_filter"))
    fresh_fake.script("s", Reply(text="clean"))
    reply = await chat(
        fresh_fake, spec_for(fresh_fake, PRIMARY, "p"), spec_for(fresh_fake, LARGE, "s")
    ).ainvoke("x")
    assert _sequence(call_info_of(reply)) == [(PRIMARY, "ContentFilteredError"), (LARGE, None)]


async def test_unknown_context_window_does_not_fall_over(fresh_fake: FakeProvider) -> None:
    fresh_fake.script("p", Fault.context_window())
    model = ChatModel(
        spec_for(fresh_fake, "openai/unknown-model", "p"),
        fallbacks=[spec_for(fresh_fake, LARGE, "s")],
        retry=FAST_RETRY,
    )
    with pytest.raises(AllProvidersFailed) as caught:
        await model.ainvoke("x")
    assert _sequence(caught.value.attempts) == [("openai/unknown-model", "ContextWindowExceededError")]
    assert fresh_fake.requests_for("s") == []


# --- streams: fall over only before the first chunk ------------------------------------------------


class _Delta:
    def __init__(self, content: str) -> None:
        self.content = content


class _Choice:
    def __init__(self, content: str) -> None:
        self.delta = _Delta(content)
        self.finish_reason = None


class _Chunk:
    def __init__(self, content: str) -> None:
        self.choices = [_Choice(content)]
        self.usage = None
        self.model = "scripted"


def _scripted_stream(behaviour: dict[str, list[Any]]) -> Any:
    async def acompletion(**kwargs: Any) -> AsyncIterator[_Chunk]:
        items = behaviour[kwargs["model"]]

        async def gen() -> AsyncIterator[_Chunk]:
            for item in items:
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, float):
                    import asyncio

                    await asyncio.sleep(item)
                    continue
                yield _Chunk(item)

        return gen()

    return acompletion


def _plan(behaviour: dict[str, list[Any]], *models: str, timeout: float = 5.0) -> CallPlan:
    return CallPlan(
        chain=tuple(
            ModelSpec(model=m, api_key_env=FAKE_KEY_ENV, timeout=timeout, max_retries=0) for m in models
        ),
        retry=FAST_RETRY,
        breakers=BreakerRegistry(),
        messages=[HumanMessage("x")],
        completion=_scripted_stream(behaviour),
    )


async def test_stream_error_after_first_chunk_does_not_fall_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAKE_KEY_ENV, "k")
    import httpx

    behaviour = {"openai/a": ["partial ", httpx.ReadError("reset")], "openai/b": ["never"]}
    seen: list[str] = []

    async def consume() -> None:
        async for chunk in run_stream(_plan(behaviour, "openai/a", "openai/b")):
            seen.append(str(chunk.content))

    with pytest.raises(ProviderUnavailableError):
        await consume()
    assert seen == ["partial "]  # the fallback was never asked once a chunk was out


async def test_stream_error_before_first_chunk_falls_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAKE_KEY_ENV, "k")
    import httpx

    behaviour = {"openai/a": ["", httpx.ReadError("reset")], "openai/b": ["from b"]}
    chunks = [c async for c in run_stream(_plan(behaviour, "openai/a", "openai/b"))]
    assert "".join(str(c.content) for c in chunks) == "from b"
    assert _sequence(call_info_of(chunks[-1])) == [
        ("openai/a", "ProviderUnavailableError"),
        ("openai/b", None),
    ]


async def test_stream_stall_mid_way_is_bounded_by_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAKE_KEY_ENV, "k")
    from thinkgraph.exceptions import ProviderTimeoutError

    behaviour = {"openai/a": ["start ", 30.0, "never"]}
    started = time.perf_counter()
    with pytest.raises(ProviderTimeoutError):
        _ = [c async for c in run_stream(_plan(behaviour, "openai/a", timeout=0.3))]
    assert time.perf_counter() - started < 2.0


async def test_stream_bug_propagates_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAKE_KEY_ENV, "k")
    behaviour = {"openai/a": ["start ", KeyError("bug")]}
    with pytest.raises(KeyError):
        _ = [c async for c in run_stream(_plan(behaviour, "openai/a"))]
    with pytest.raises(KeyError):
        _ = [c async for c in run_stream(_plan({"openai/a": [KeyError("early bug")]}, "openai/a"))]


# --- cross-vendor fallback in the middle of a tool loop --------------------------------------------


@pytest.mark.parametrize("fallback", ["openai/gpt-4o-mini", "hosted_vllm/qwen/Qwen3-8B"])
async def test_anthropic_thinking_to_openai_compatible_mid_tool_loop(
    fresh_fake: FakeProvider, fallback: str
) -> None:
    fresh_fake.script(
        "s",
        Reply(
            reasoning="secret anthropic thoughts",
            signature="sig-123",
            tool_calls=[ToolCall("calc", {"e": "2+2"})],
        ),
        Fault.unavailable(),
    )
    fresh_fake.script("f", Reply(text="The answer is 4"))
    model = ChatModel(
        spec_for(fresh_fake, LARGE, "s", reasoning_effort="low"),
        fallbacks=[spec_for(fresh_fake, fallback, "f")],
        retry=FAST_RETRY,
    )
    history: list[Any] = [HumanMessage("what is 2+2?")]
    first = await model.ainvoke(history)
    assert reasoning_of(first) is not None and first.tool_calls
    history += [first, ToolMessage(content="4", tool_call_id=first.tool_calls[0]["id"] or "")]
    second = await model.ainvoke(history)
    assert second.content == "The answer is 4"
    info = call_info_of(second)
    assert info is not None and info["fallback"] and info["model"] == fallback
    body = fresh_fake.last_request("f").body
    text = json.dumps(body)
    for foreign in ("secret anthropic thoughts", "sig-123", "thinking", "reasoning_content", "signature"):
        assert foreign not in text, foreign
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "tool"]
    assert body["messages"][1]["tool_calls"][0]["function"]["name"] == "calc"
    assert body["messages"][2]["tool_call_id"] == first.tool_calls[0]["id"]


# --- responses litellm should never produce, scripted directly ------------------------------------


class _Response:
    def __init__(self, choices: list[Any]) -> None:
        self.choices = choices
        self.usage = None
        self.model = "scripted"
        self.id = "r1"


class _NoMessage:
    finish_reason = "stop"
    message = None


async def test_responses_without_choices_or_message_are_malformed(monkeypatch: pytest.MonkeyPatch) -> None:
    from thinkgraph.models._engine import run_call

    monkeypatch.setenv(FAKE_KEY_ENV, "k")
    answers = iter([_Response([]), _Response([_NoMessage()])])

    async def acompletion(**kwargs: Any) -> _Response:
        assert "tool_choice" not in kwargs  # None-valued parameters are not sent
        return next(answers)

    plan = CallPlan(
        chain=(ModelSpec(model="openai/a", api_key_env=FAKE_KEY_ENV, max_retries=1),),
        retry=FAST_RETRY,
        breakers=BreakerRegistry(),
        messages=[HumanMessage("x")],
        params={"tool_choice": None},
        completion=acompletion,
    )
    with pytest.raises(AllProvidersFailed) as caught:
        await run_call(plan)
    assert [a.error_class for a in caught.value.attempts] == ["MalformedResponseError"] * 2
    assert "no choices" in caught.value.attempts[0].message
    assert "no message" in caught.value.attempts[1].message


def _scripted_sync_stream(behaviour: dict[str, list[Any]]) -> Any:
    def completion(**kwargs: Any) -> Any:
        items = behaviour[kwargs["model"]]

        def gen() -> Any:
            for item in items:
                if isinstance(item, BaseException):
                    raise item
                yield _Chunk(item)

        return gen()

    return completion


def _sync_plan(behaviour: dict[str, list[Any]], *models: str, retries: int = 0) -> CallPlan:
    return CallPlan(
        chain=tuple(ModelSpec(model=m, api_key_env=FAKE_KEY_ENV, max_retries=retries) for m in models),
        retry=RetryPolicy(base=0.001, cap=0.001, jitter=False, sync_sleep=lambda _s: None),
        breakers=BreakerRegistry(),
        messages=[HumanMessage("x")],
        sync_completion=_scripted_sync_stream(behaviour),
    )


def test_sync_stream_falls_over_only_before_the_first_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    from thinkgraph.models._engine_sync import run_stream_sync

    monkeypatch.setenv(FAKE_KEY_ENV, "k")
    behaviour = {"openai/a": ["", httpx.ReadError("reset")], "openai/b": ["from b"]}
    chunks = list(run_stream_sync(_sync_plan(behaviour, "openai/a", "openai/b", retries=1)))
    assert "".join(str(c.content) for c in chunks) == "from b"
    assert _sequence(call_info_of(chunks[-1])) == [("openai/a", "ProviderUnavailableError")] * 2 + [
        ("openai/b", None)
    ]

    late = {"openai/a": ["partial ", httpx.ReadError("reset")], "openai/b": ["never"]}
    seen: list[str] = []

    def consume() -> None:
        for chunk in run_stream_sync(_sync_plan(late, "openai/a", "openai/b")):
            seen.append(str(chunk.content))

    with pytest.raises(ProviderUnavailableError):
        consume()
    assert seen == ["partial "]
    with pytest.raises(KeyError):
        list(run_stream_sync(_sync_plan({"openai/a": ["x", KeyError("bug")]}, "openai/a")))
    stream = run_stream_sync(_sync_plan({"openai/a": ["one", "two"]}, "openai/a"))
    assert next(stream).content == "one"
    stream.close()  # stopping early releases the breaker's probe slot and closes the stream
