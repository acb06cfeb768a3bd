"""The fake provider speaks OpenAI chat completions: proved through litellm over real HTTP."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest

from thinkgraph.testing import FakeProvider, Reply, ToolCall

USER = [{"role": "user", "content": "What is the weather in Paris?"}]
COMMON: dict[str, Any] = {"api_key": "test-key", "num_retries": 0, "max_retries": 0, "timeout": 10}
PARALLEL = Reply(
    text="Let me check.",
    reasoning="The user wants weather; call both tools.",
    tool_calls=[
        ToolCall("get_weather", {"city": "Paris", "unit": "celsius"}),
        ToolCall("get_time", {"tz": "Europe/Paris"}, id="call_custom"),
    ],
    input_tokens=42,
    output_tokens=17,
    reasoning_tokens=9,
    cached_tokens=5,
)


async def _stream(litellm: ModuleType, **kwargs: Any) -> Any:
    response = await litellm.acompletion(stream=True, stream_options={"include_usage": True}, **kwargs)
    chunks = [chunk async for chunk in response]
    return chunks, litellm.stream_chunk_builder(chunks, messages=kwargs["messages"])


def _check_parallel(message: Any) -> None:
    assert message.content == "Let me check."
    assert message.reasoning_content == "The user wants weather; call both tools."
    calls = message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[0].function.arguments) == {"city": "Paris", "unit": "celsius"}
    assert json.loads(calls[1].function.arguments) == {"tz": "Europe/Paris"}
    assert calls[1].id == "call_custom"
    assert calls[0].id.startswith("call_")


def _check_usage(usage: Any) -> None:
    assert usage.prompt_tokens == 42
    assert usage.completion_tokens == 17
    assert usage.total_tokens == 59
    assert usage.completion_tokens_details.reasoning_tokens == 9
    assert usage.prompt_tokens_details.cached_tokens == 5


async def test_json_reply_with_parallel_tool_calls_reasoning_and_usage(
    litellm: ModuleType, fake: FakeProvider
) -> None:
    fake.script("main", PARALLEL)
    response = await litellm.acompletion(
        model="openai/gpt-fake", api_base=fake.api_base("main"), messages=USER, **COMMON
    )
    assert response.choices[0].finish_reason == "tool_calls"
    _check_parallel(response.choices[0].message)
    _check_usage(response.usage)
    request = fake.last_request("main")
    assert request.protocol == "openai" and request.model == "gpt-fake" and request.status == 200
    assert request.path == "/d/main/v1/chat/completions"
    assert request.messages == USER


async def test_streamed_reply_with_tool_call_deltas_reasoning_and_final_usage(
    litellm: ModuleType, fake: FakeProvider
) -> None:
    fake.script("main", PARALLEL)
    chunks, built = await _stream(
        litellm, model="openai/gpt-fake", api_base=fake.api_base("main"), messages=USER, **COMMON
    )
    assert len(chunks) > 6
    reasoning = "".join(
        getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices
    )
    assert reasoning == PARALLEL.reasoning
    _check_parallel(built.choices[0].message)
    _check_usage(built.usage)
    assert fake.last_request().stream is True


async def test_stream_without_include_usage_has_no_usage_chunk(fake: FakeProvider) -> None:
    import aiohttp

    fake.script("raw", "one two")
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            fake.api_base("raw") + "/chat/completions", json={"model": "m", "messages": USER, "stream": True}
        ) as response,
    ):
        body = await response.text()
    events = [line[6:] for line in body.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    parsed = [json.loads(e) for e in events[:-1]]
    assert all("usage" not in p for p in parsed)
    assert "".join(p["choices"][0]["delta"].get("content", "") for p in parsed) == "one two"


async def test_unscripted_deployment_echoes_the_last_user_message(
    litellm: ModuleType, fake: FakeProvider
) -> None:
    messages = [*USER, {"role": "assistant", "content": "?"}, {"role": "user", "content": "Still there?"}]
    response = await litellm.acompletion(
        model="openai/x", api_base=fake.api_base("anything"), messages=messages, **COMMON
    )
    assert response.choices[0].message.content == "echo: Still there?"
    assert response.usage.prompt_tokens > 0 and response.usage.completion_tokens > 0
    assert fake.last_request().outcome == "default"


async def test_azure_deployment_path_json_and_stream(litellm: ModuleType, fake: FakeProvider) -> None:
    fake.script("az", PARALLEL, PARALLEL)
    kwargs = {"model": "azure/my-gpt", "api_base": fake.api_base("az", "azure"), "api_version": "2024-10-21"}
    response = await litellm.acompletion(messages=USER, **kwargs, **COMMON)
    _check_parallel(response.choices[0].message)
    _check_usage(response.usage)
    _, built = await _stream(litellm, messages=USER, **kwargs, **COMMON)
    _check_parallel(built.choices[0].message)
    first = fake.requests_for("az")[0]
    assert first.path == "/d/az/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21"
    assert first.model == "my-gpt"
    assert first.headers["api-key"] == "***"


async def test_deepseek_reasoning_content_json_and_stream(litellm: ModuleType, fake: FakeProvider) -> None:
    reply = Reply(text="42", reasoning="six times seven", reasoning_tokens=4)
    fake.script("ds", reply, reply)
    kwargs = {"model": "deepseek/deepseek-reasoner", "api_base": fake.api_base("ds", "deepseek")}
    response = await litellm.acompletion(messages=USER, **kwargs, **COMMON)
    message = response.choices[0].message
    assert (message.content, message.reasoning_content) == ("42", "six times seven")
    assert response.usage.completion_tokens_details.reasoning_tokens == 4
    _, built = await _stream(litellm, messages=USER, **kwargs, **COMMON)
    assert built.choices[0].message.reasoning_content == "six times seven"
    assert built.choices[0].message.content == "42"


@pytest.mark.parametrize("provider", ["openai", "xai", "mistral", "together_ai", "groq", "hosted_vllm"])
async def test_openai_compatible_providers_reach_their_deployment(
    litellm: ModuleType, fake: FakeProvider, provider: str
) -> None:
    fake.script(provider, Reply(text=f"hi from {provider}", tool_calls=[ToolCall("f", {"a": 1})]))
    response = await litellm.acompletion(
        model=f"{provider}/some-model", api_base=fake.api_base(provider, provider), messages=USER, **COMMON
    )
    assert response.choices[0].message.content == f"hi from {provider}"
    assert response.choices[0].message.tool_calls[0].function.name == "f"
    assert fake.last_request(provider).path.endswith("/v1/chat/completions")


async def test_bare_url_without_v1_is_served_too(litellm: ModuleType, fake: FakeProvider) -> None:
    response = await litellm.acompletion(model="openai/x", api_base=fake.url, messages=USER, **COMMON)
    assert response.choices[0].message.content.startswith("echo: ")
    assert fake.last_request().deployment == "default"
    assert fake.last_request().path == "/chat/completions"


def test_sync_completion_from_a_sync_test(litellm: ModuleType, fake: FakeProvider) -> None:
    fake.script("sync", "hello sync")
    response = litellm.completion(model="openai/x", api_base=fake.api_base("sync"), messages=USER, **COMMON)
    assert response.choices[0].message.content == "hello sync"
