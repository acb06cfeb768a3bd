"""The fake provider speaks Anthropic, Gemini and Ollama: proved through litellm over real HTTP."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

from thinkgraph.testing import FakeProvider, Reply, ToolCall

USER = [{"role": "user", "content": "Plan a trip to Rome."}]
COMMON: dict[str, Any] = {"api_key": "test-key", "num_retries": 0, "max_retries": 0, "timeout": 10}
THINKING = Reply(
    text="Here is a plan.",
    reasoning="Rome has many sights; look up flights first.",
    signature="sig-abc",
    tool_calls=[
        ToolCall("search_flights", {"to": "FCO", "passengers": 2}),
        ToolCall("hotels", {"city": "Rome"}),
    ],
    input_tokens=30,
    output_tokens=20,
    cached_tokens=4,
)


async def _stream(litellm: ModuleType, **kwargs: Any) -> Any:
    response = await litellm.acompletion(stream=True, stream_options={"include_usage": True}, **kwargs)
    chunks = [chunk async for chunk in response]
    return litellm.stream_chunk_builder(chunks, messages=kwargs["messages"])


def _check_calls(message: Any) -> None:
    calls = message.tool_calls
    assert [c.function.name for c in calls] == ["search_flights", "hotels"]
    assert json.loads(calls[0].function.arguments) == {"to": "FCO", "passengers": 2}
    assert json.loads(calls[1].function.arguments) == {"city": "Rome"}


# --- Anthropic ----------------------------------------------------------------------------


async def test_anthropic_json_thinking_text_tool_use_and_usage(
    litellm: ModuleType, fake: FakeProvider
) -> None:
    fake.script("claude", THINKING)
    response = await litellm.acompletion(
        model="anthropic/claude-fake", api_base=fake.api_base("claude", "anthropic"), messages=USER, **COMMON
    )
    message = response.choices[0].message
    assert message.content == "Here is a plan."
    assert message.reasoning_content == THINKING.reasoning
    assert message.thinking_blocks[0]["signature"] == "sig-abc"
    assert message.thinking_blocks[0]["thinking"] == THINKING.reasoning
    _check_calls(message)
    assert response.choices[0].finish_reason == "tool_calls"
    assert response.usage.prompt_tokens >= 30 and response.usage.completion_tokens == 20
    assert response.usage.prompt_tokens_details.cached_tokens == 4
    request = fake.last_request("claude")
    assert request.protocol == "anthropic" and request.path == "/d/claude/v1/messages"
    assert request.headers["x-api-key"] == "***"


async def test_anthropic_stream_thinking_and_signature_deltas_input_json_and_usage(
    litellm: ModuleType, fake: FakeProvider
) -> None:
    fake.script("claude", THINKING)
    built = await _stream(
        litellm,
        model="anthropic/claude-fake",
        api_base=fake.api_base("claude", "anthropic"),
        messages=USER,
        **COMMON,
    )
    message = built.choices[0].message
    assert message.content == "Here is a plan."
    assert message.reasoning_content == THINKING.reasoning
    assert message.thinking_blocks[0]["signature"] == "sig-abc"
    _check_calls(message)
    assert built.usage.completion_tokens == 20


async def test_anthropic_default_signature_and_thinking_blocks_are_replayed(
    litellm: ModuleType, fake: FakeProvider
) -> None:
    fake.script("claude", Reply(reasoning="think", tool_calls=[ToolCall("lookup", {"q": "x"})]), "done")
    # litellm 1.106.2 imports the optional ``mcp`` package whenever tools are passed, unless told not to.
    kwargs = {
        "model": "anthropic/claude-fake",
        "api_base": fake.api_base("claude", "anthropic"),
        "_skip_mcp_handler": True,
        **COMMON,
    }
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    first = await litellm.acompletion(messages=USER, tools=tools, **kwargs)
    message = first.choices[0].message
    signature = message.thinking_blocks[0]["signature"]
    assert signature.startswith("fakesig-")
    call = message.tool_calls[0]
    history = [
        *USER,
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [call.model_dump()],
            "thinking_blocks": message.thinking_blocks,
        },
        {"role": "tool", "tool_call_id": call.id, "content": "result"},
    ]
    second = await litellm.acompletion(messages=history, tools=tools, **kwargs)
    assert second.choices[0].message.content == "done"
    sent = fake.last_request("claude").body["messages"][1]["content"]
    assert sent[0] == {"type": "thinking", "thinking": "think", "signature": signature}
    assert sent[-1]["type"] == "tool_use"


# --- Gemini -------------------------------------------------------------------------------


async def test_gemini_json_text_function_calls_thoughts_and_usage(
    litellm: ModuleType, fake: FakeProvider
) -> None:
    reply = Reply(
        text="Sure.",
        reasoning="consider",
        tool_calls=THINKING.tool_calls,
        input_tokens=11,
        output_tokens=13,
        reasoning_tokens=3,
        cached_tokens=2,
    )
    fake.script("gem", reply)
    response = await litellm.acompletion(
        model="gemini/gemini-fake", api_base=fake.api_base("gem", "gemini"), messages=USER, **COMMON
    )
    message = response.choices[0].message
    assert message.content == "Sure."
    assert message.reasoning_content == "consider"
    _check_calls(message)
    assert response.usage.prompt_tokens == 11
    assert response.usage.completion_tokens_details.reasoning_tokens == 3
    assert response.usage.total_tokens == 11 + 13
    assert response.usage.prompt_tokens_details.cached_tokens == 2
    request = fake.last_request("gem")
    assert (request.protocol, request.model, request.stream) == ("gemini", "gemini-fake", False)
    assert request.path == "/d/gem/v1beta/models/gemini-fake:generateContent"
    assert request.headers["x-goog-api-key"] == "***"


async def test_gemini_stream_text_function_calls_and_usage(litellm: ModuleType, fake: FakeProvider) -> None:
    fake.script(
        "gem", Reply(text="Streaming from Gemini now.", tool_calls=THINKING.tool_calls, reasoning="hm")
    )
    built = await _stream(
        litellm, model="gemini/gemini-fake", api_base=fake.api_base("gem", "gemini"), messages=USER, **COMMON
    )
    message = built.choices[0].message
    assert message.content == "Streaming from Gemini now."
    _check_calls(message)
    assert built.usage.completion_tokens_details.reasoning_tokens == 1
    request = fake.last_request("gem")
    assert request.stream and request.path.endswith(":streamGenerateContent?alt=sse")


async def test_gemini_echo_reads_user_parts(litellm: ModuleType, fake: FakeProvider) -> None:
    response = await litellm.acompletion(
        model="gemini/g", api_base=fake.api_base("gem", "gemini"), messages=USER, **COMMON
    )
    assert response.choices[0].message.content == "echo: Plan a trip to Rome."


# --- Ollama -------------------------------------------------------------------------------


async def test_ollama_chat_json_tool_calls_thinking_and_counts(
    litellm: ModuleType, fake: FakeProvider
) -> None:
    fake.script(
        "llama",
        Reply(text="ok", reasoning="mull", tool_calls=THINKING.tool_calls, input_tokens=8, output_tokens=6),
    )
    response = await litellm.acompletion(
        model="ollama_chat/llama3", api_base=fake.api_base("llama", "ollama_chat"), messages=USER, **COMMON
    )
    message = response.choices[0].message
    assert message.content == "ok"
    assert message.reasoning_content == "mull"
    _check_calls(message)
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (8, 6)
    request = fake.last_request("llama")
    assert (request.protocol, request.path, request.stream) == ("ollama", "/d/llama/api/chat", False)


async def test_ollama_chat_ndjson_stream_with_tool_calls_and_counts(
    litellm: ModuleType, fake: FakeProvider
) -> None:
    fake.script(
        "llama",
        Reply(text="streamed ollama text", tool_calls=THINKING.tool_calls, input_tokens=8, output_tokens=6),
    )
    built = await _stream(
        litellm,
        model="ollama_chat/llama3",
        api_base=fake.api_base("llama", "ollama_chat"),
        messages=USER,
        **COMMON,
    )
    message = built.choices[0].message
    assert message.content == "streamed ollama text"
    _check_calls(message)
    assert (built.usage.prompt_tokens, built.usage.completion_tokens) == (8, 6)
    assert fake.last_request("llama").stream is True


async def test_ollama_chat_stream_thinking(litellm: ModuleType, fake: FakeProvider) -> None:
    fake.script("llama", Reply(text="answer", reasoning="deep thought here"))
    built = await _stream(
        litellm,
        model="ollama_chat/llama3",
        api_base=fake.api_base("llama", "ollama_chat"),
        messages=USER,
        **COMMON,
    )
    assert built.choices[0].message.content == "answer"
    assert built.choices[0].message.reasoning_content == "deep thought here"


async def test_ollama_generate_json_and_stream(litellm: ModuleType, fake: FakeProvider) -> None:
    fake.script("gen", Reply(text="generated words", input_tokens=3, output_tokens=2), "streamed generate")
    kwargs = {"model": "ollama/llama3", "api_base": fake.api_base("gen", "ollama"), **COMMON}
    response = await litellm.acompletion(messages=USER, **kwargs)
    assert response.choices[0].message.content == "generated words"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (3, 2)
    built = await _stream(litellm, messages=USER, **kwargs)
    assert built.choices[0].message.content == "streamed generate"
    assert fake.last_request("gen").protocol == "ollama_generate"
    response = await litellm.acompletion(messages=USER, **kwargs)
    assert "Plan a trip to Rome." in response.choices[0].message.content
