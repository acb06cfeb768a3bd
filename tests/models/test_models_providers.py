"""Through litellm over real HTTP (FakeProvider) for each provider family.

Plain chat, tool calls (parallel), streaming, usage and cost, structured output, sync calls, and
reasoning capture and replay per provider rules (asserted on the requests the fake recorded).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, ToolMessage
from pydantic import BaseModel
from tg_models_support import chat, spec_for

from thinkgraph.exceptions import ConfigError, MalformedResponseError
from thinkgraph.models import ChatModel, ModelSpec, Pricing, call_info_of, reasoning_of
from thinkgraph.testing import FakeProvider, Reply, ToolCall

FAMILIES = [
    "openai/gpt-4o-mini",
    "azure/gpt-4o-mini",
    "anthropic/claude-sonnet-4-5",
    "gemini/gemini-2.5-flash",
    "xai/grok-3-mini",
    "deepseek/deepseek-chat",
    "mistral/mistral-small-latest",
    "fireworks_ai/accounts/fireworks/models/qwen3-235b-a22b",
    "openrouter/meta-llama/llama-3.3-70b-instruct",
    "together_ai/Qwen/Qwen2.5-72B-Instruct-Turbo",
    "hosted_vllm/qwen/Qwen3-8B",
    "ollama_chat/llama3.1",
]


def _deployment(model: str) -> str:
    return model.split("/", 1)[0].replace("_", "-")


def _collect(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    return total


@pytest.mark.parametrize("model", FAMILIES)
async def test_plain_chat_usage_and_call_info(fresh_fake: FakeProvider, model: str) -> None:
    fresh_fake.script(_deployment(model), Reply(text="Hello there", input_tokens=11, output_tokens=3))
    reply = await chat(fresh_fake, model).ainvoke([HumanMessage("hi")])
    assert reply.content == "Hello there"
    info = call_info_of(reply)
    assert info is not None
    assert info["model"] == info["requested_model"] == model
    assert not info["fallback"] and [a["error_class"] for a in info["attempts"]] == [None]
    assert info["output_tokens"] == 3 and reply.usage_metadata is not None
    assert reply.usage_metadata["output_tokens"] == 3
    assert info["input_tokens"] == reply.usage_metadata["input_tokens"] > 0
    assert info["latency_s"] > 0
    assert (info["cost_usd"] is None) == info["unpriced"]
    request = fresh_fake.last_request(_deployment(model))
    assert request.headers.get("Authorization", request.headers.get("x-api-key", "***")) in ("***", "")


@pytest.mark.parametrize("model", FAMILIES)
async def test_parallel_tool_calls(fresh_fake: FakeProvider, model: str) -> None:
    fresh_fake.script(
        _deployment(model),
        Reply(tool_calls=[ToolCall("get_weather", {"city": "Paris"}), ToolCall("get_time", {"tz": "CET"})]),
    )

    def get_weather(city: str) -> str:
        """Weather of a city."""
        return city

    def get_time(tz: str) -> str:
        """Time in a zone."""
        return tz

    model_with_tools = chat(fresh_fake, model).bind_tools([get_weather, get_time], parallel_tool_calls=True)
    reply = await model_with_tools.ainvoke("weather and time?")
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"tz": "CET"}),
    ]
    assert all(c["id"] for c in reply.tool_calls)
    body = fresh_fake.last_request(_deployment(model)).body
    tool_names = json.dumps(body)
    assert "get_weather" in tool_names and "get_time" in tool_names


@pytest.mark.parametrize("model", FAMILIES)
async def test_streaming_text_tools_and_usage(fresh_fake: FakeProvider, model: str) -> None:
    dep = _deployment(model)
    fresh_fake.script(dep, Reply(text="one two three four", output_tokens=4))
    chunks = [c async for c in chat(fresh_fake, model).astream("count")]
    assert len(chunks) >= 2
    total = _collect(chunks)
    assert total.content == "one two three four"
    assert total.usage_metadata is not None and total.usage_metadata["output_tokens"] == 4
    info = call_info_of(total)
    assert info is not None and info["model"] == model
    assert fresh_fake.last_request(dep).stream

    fresh_fake.script(dep, Reply(tool_calls=[ToolCall("a", {"x": 1}), ToolCall("b", {"y": "z"})]))
    total = _collect([c async for c in chat(fresh_fake, model).astream("call")])
    assert [(c["name"], c["args"]) for c in total.tool_calls] == [("a", {"x": 1}), ("b", {"y": "z"})]


async def test_ollama_generate_endpoint(fresh_fake: FakeProvider) -> None:
    fresh_fake.script("ollama-gen", Reply(text="generated"))
    spec = spec_for(fresh_fake, "ollama/llama3.1", "ollama-gen", api_key_env=None)
    reply = await ChatModel(spec).ainvoke("hi")
    assert reply.content == "generated"
    assert fresh_fake.last_request("ollama-gen").protocol == "ollama_generate"


async def test_local_server_needs_no_key(fresh_fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    spec = ModelSpec(model="openai/local-model", api_base=fresh_fake.api_base("local"), timeout=5)
    reply = await ChatModel(spec).ainvoke("hi")
    assert reply.content == "echo: hi"
    assert call_info_of(reply)["unpriced"] is True  # type: ignore[index]
    assert call_info_of(reply)["cost_usd"] is None  # type: ignore[index]


async def test_priced_and_custom_priced_costs(fresh_fake: FakeProvider) -> None:
    fresh_fake.script("openai", Reply(text="x", input_tokens=1000, output_tokens=500, cached_tokens=200))
    reply = await chat(fresh_fake, "openai/gpt-4o-mini").ainvoke("hi")
    info = call_info_of(reply)
    assert info is not None and info["cached_tokens"] == 200
    assert info["cost_usd"] == pytest.approx(800 * 1.5e-7 + 200 * 7.5e-8 + 500 * 6e-7)
    assert reply.usage_metadata["input_token_details"]["cache_read"] == 200  # type: ignore[index]

    fresh_fake.script("custom", Reply(text="x", input_tokens=100, output_tokens=50, reasoning_tokens=10))
    spec = spec_for(
        fresh_fake, "openai/my-model", "custom", pricing=Pricing(input=1e-6, output=2e-6, reasoning=4e-6)
    )
    info = call_info_of(await ChatModel(spec).ainvoke("hi"))
    assert info is not None and info["reasoning_tokens"] == 10
    assert info["cost_usd"] == pytest.approx(100 * 1e-6 + 40 * 2e-6 + 10 * 4e-6)
    assert info["unpriced"] is False


def test_sync_invoke_and_stream(fresh_fake: FakeProvider) -> None:
    fresh_fake.script("openai", Reply(text="sync hello"), Reply(text="sync stream"))
    model = chat(fresh_fake, "openai/gpt-4o-mini")
    assert model.invoke("hi").content == "sync hello"
    chunks = list(model.stream("hi"))
    assert "".join(str(c.content) for c in chunks) == "sync stream"
    assert call_info_of(_collect(chunks)) is not None


async def test_sync_invoke_inside_a_running_loop(fresh_fake: FakeProvider) -> None:
    fresh_fake.script("openai", Reply(text="from a thread"))
    assert chat(fresh_fake, "openai/gpt-4o-mini").invoke("hi").content == "from a thread"


def test_sync_stream_stopped_early(fresh_fake: FakeProvider) -> None:
    fresh_fake.script("openai", Reply(text=" ".join(f"w{i}" for i in range(200))))
    stream = chat(fresh_fake, "openai/gpt-4o-mini").stream("hi")
    first = next(iter(stream))
    assert first.content
    stream.close()  # type: ignore[attr-defined]


def test_sync_stream_error_reaches_the_caller(fresh_fake: FakeProvider) -> None:
    from thinkgraph.exceptions import BadRequestError
    from thinkgraph.testing import Fault

    fresh_fake.script("openai", Fault.bad_request())
    with pytest.raises(BadRequestError):
        list(chat(fresh_fake, "openai/gpt-4o-mini").stream("hi"))


# --- structured output -------------------------------------------------------------------------


class Answer(BaseModel):
    """An answer with a confidence."""

    answer: str
    confidence: float


@pytest.mark.parametrize(
    ("model", "mode"),
    [
        ("openai/gpt-4o-mini", "json_schema"),
        ("anthropic/claude-sonnet-4-5", "function_calling"),
        ("deepseek/deepseek-chat", "function_calling"),
        ("gemini/gemini-2.5-flash", "json_schema"),
        ("ollama_chat/llama3.1", "json_schema"),
    ],
)
async def test_structured_output_mode_per_profile(fresh_fake: FakeProvider, model: str, mode: str) -> None:
    dep = _deployment(model)
    payload = {"answer": "42", "confidence": 0.9}
    if mode == "function_calling":
        fresh_fake.script(dep, Reply(tool_calls=[ToolCall("Answer", payload)]))
    else:
        fresh_fake.script(dep, Reply(text=json.dumps(payload)))
    result = await chat(fresh_fake, model).with_structured_output(Answer).ainvoke("question")
    assert result == Answer(answer="42", confidence=0.9)
    body = json.dumps(fresh_fake.last_request(dep).body)
    assert "confidence" in body  # the schema reached the provider


async def test_structured_output_variants(fresh_fake: FakeProvider) -> None:
    model = chat(fresh_fake, "openai/gpt-4o-mini")
    fresh_fake.script("openai", Reply(tool_calls=[ToolCall("Answer", {"answer": "a", "confidence": 1})]))
    forced = await model.with_structured_output(Answer, method="function_calling").ainvoke("q")
    assert forced == Answer(answer="a", confidence=1.0)
    body = fresh_fake.last_request("openai").body
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Answer"}}

    fresh_fake.script("openai", Reply(text='```json\n{"answer": "b", "confidence": 0.5}\n```'))
    as_dict = await model.with_structured_output(Answer.model_json_schema(), method="json_mode").ainvoke("q")
    assert as_dict == {"answer": "b", "confidence": 0.5}
    assert fresh_fake.last_request("openai").body["response_format"] == {"type": "json_object"}

    fresh_fake.script("openai", Reply(text='{"answer": "c", "confidence": 0.1}'))
    strict = await model.with_structured_output(Answer, strict=True).ainvoke("q")
    assert strict == Answer(answer="c", confidence=0.1)
    assert fresh_fake.last_request("openai").body["response_format"]["json_schema"]["strict"] is True

    fresh_fake.script("openai", Reply(tool_calls=[ToolCall("Answer", {"answer": "d", "confidence": 1})]))
    schema = {"title": "Answer", "type": "object", "properties": {"answer": {"type": "string"}}}
    as_tool_dict = await model.with_structured_output(schema, method="tools").ainvoke("q")
    assert as_tool_dict == {"answer": "d", "confidence": 1}

    fresh_fake.script("openai", Reply(text="not json at all"))
    raw = await model.with_structured_output(Answer, include_raw=True).ainvoke("q")
    assert isinstance(raw["raw"], AIMessage) and raw["parsed"] is None  # type: ignore[index]
    assert isinstance(raw["parsing_error"], MalformedResponseError)  # type: ignore[index]

    fresh_fake.script("openai", Reply(text='{"answer": "e", "confidence": 0}'))
    ok = await model.with_structured_output(Answer, include_raw=True).ainvoke("q")
    assert ok["parsed"] == Answer(answer="e", confidence=0) and ok["parsing_error"] is None  # type: ignore[index]

    with pytest.raises(ConfigError, match="unknown structured output method"):
        model.with_structured_output(Answer, method="telepathy")
    with pytest.raises(ConfigError, match="unsupported arguments"):
        model.with_structured_output(Answer, bogus=1)


async def test_bind_tools_choices(fresh_fake: FakeProvider) -> None:
    model = chat(fresh_fake, "openai/gpt-4o-mini")
    tool = {"type": "function", "function": {"name": "t", "parameters": {"type": "object", "properties": {}}}}
    for choice, expected in [("any", "required"), (True, "required"), ("auto", "auto"), ("none", "none")]:
        await model.bind_tools([tool], tool_choice=choice).ainvoke("q")
        assert fresh_fake.last_request("openai").body["tool_choice"] == expected
    await model.bind_tools([tool], tool_choice=False).ainvoke("q")
    assert "tool_choice" not in fresh_fake.last_request("openai").body
    with pytest.raises(ConfigError, match="not one of the bound tools"):
        model.bind_tools([tool], tool_choice="other")
    # parallel_tool_calls is dropped for a model whose profile lacks parallel tools
    ollama = chat(fresh_fake, "ollama_chat/llama3.1").bind_tools([tool], parallel_tool_calls=False)
    await ollama.ainvoke("q")
    assert "parallel_tool_calls" not in json.dumps(fresh_fake.last_request("ollama-chat").body)


async def test_spec_parameters_reach_the_provider(fresh_fake: FakeProvider) -> None:
    spec = spec_for(
        fresh_fake,
        "openai/o3-mini",
        "openai",
        temperature=0.25,
        max_tokens=77,
        reasoning_effort="low",
        params={"seed": 7},
    )
    await ChatModel(spec).ainvoke("hi", stop=["END"])
    body = fresh_fake.last_request("openai").body
    assert body["reasoning_effort"] == "low" and body["seed"] == 7 and body["stop"] == ["END"]
    assert 77 in (body.get("max_tokens"), body.get("max_completion_tokens"))
    # a profile without reasoning_effort support does not receive it
    spec = spec_for(fresh_fake, "mistral/mistral-small-latest", "mistral", reasoning_effort="high")
    await ChatModel(spec).ainvoke("hi")
    assert "reasoning_effort" not in fresh_fake.last_request("mistral").body


# --- reasoning capture and replay ----------------------------------------------------------------


def _tool_round(first: AIMessage) -> list[BaseMessage]:
    call = first.tool_calls[0]
    return [
        HumanMessage("what is 2+2?"),
        first,
        ToolMessage(content="4", tool_call_id=call["id"] or "x"),
    ]


async def test_deepseek_v4_reasoning_is_captured_and_replayed(fresh_fake: FakeProvider) -> None:
    fresh_fake.script(
        "deepseek",
        Reply(reasoning="I should use the calculator", tool_calls=[ToolCall("calc", {"expr": "2+2"})]),
        Reply(text="4"),
    )
    model = chat(fresh_fake, "deepseek/deepseek-chat")
    first = await model.ainvoke([HumanMessage("what is 2+2?")])
    reasoning = reasoning_of(first)
    assert reasoning is not None and reasoning["text"] == "I should use the calculator"
    assert reasoning["provider"] == "deepseek" and reasoning["model"] == "deepseek/deepseek-chat"
    assert reasoning["tokens"] and call_info_of(first)["reasoning_tokens"] == reasoning["tokens"]  # type: ignore[index]
    await model.ainvoke(_tool_round(first))
    sent = fresh_fake.last_request("deepseek").messages
    assistant = next(m for m in sent if m["role"] == "assistant")
    assert assistant["reasoning_content"] == "I should use the calculator"


async def test_deepseek_reasoner_gets_no_reasoning_back(fresh_fake: FakeProvider) -> None:
    fresh_fake.script(
        "deepseek",
        Reply(reasoning="R1 thoughts", tool_calls=[ToolCall("calc", {"expr": "2+2"})]),
        Reply(text="4"),
    )
    model = chat(fresh_fake, "deepseek/deepseek-reasoner")
    first = await model.ainvoke([HumanMessage("what is 2+2?")])
    assert reasoning_of(first)["text"] == "R1 thoughts"  # type: ignore[index]
    await model.ainvoke(_tool_round(first))
    body = json.dumps(fresh_fake.last_request("deepseek").body)
    assert "reasoning_content" not in body and "R1 thoughts" not in body


async def test_anthropic_signed_thinking_is_captured_and_replayed(fresh_fake: FakeProvider) -> None:
    fresh_fake.script(
        "anthropic",
        Reply(reasoning="Need the tool", signature="sig-xyz", tool_calls=[ToolCall("calc", {"expr": "2+2"})]),
        Reply(text="4"),
    )
    model = chat(fresh_fake, "anthropic/claude-sonnet-4-5", reasoning_effort="low")
    first = await model.ainvoke([HumanMessage("what is 2+2?")])
    reasoning = reasoning_of(first)
    assert reasoning is not None
    assert reasoning["blocks"] == [{"type": "thinking", "thinking": "Need the tool", "signature": "sig-xyz"}]
    assert "thinking" in fresh_fake.last_request("anthropic").body  # reasoning_effort -> thinking budget
    await model.ainvoke(_tool_round(first))
    sent = fresh_fake.last_request("anthropic").messages
    assistant = next(m for m in sent if m["role"] == "assistant")
    blocks = assistant["content"]
    assert blocks[0] == {"type": "thinking", "thinking": "Need the tool", "signature": "sig-xyz"}
    assert any(b.get("type") == "tool_use" for b in blocks)


async def test_anthropic_streamed_thinking_is_captured(fresh_fake: FakeProvider) -> None:
    fresh_fake.script("anthropic", Reply(reasoning="streamed thought here", signature="sig-s", text="done"))
    chunks = [c async for c in chat(fresh_fake, "anthropic/claude-sonnet-4-5").astream("hi")]
    total = _collect(chunks)
    reasoning = reasoning_of(total)
    assert reasoning is not None
    assert reasoning["blocks"] == [
        {"type": "thinking", "thinking": "streamed thought here", "signature": "sig-s"}
    ]
    assert total.content == "done"
    assert (
        "".join(str(c.additional_kwargs.get("reasoning_content", "")) for c in chunks)
        == "streamed thought here"
    )


async def test_deepseek_streamed_reasoning_is_captured(fresh_fake: FakeProvider) -> None:
    fresh_fake.script("deepseek", Reply(reasoning="think think", text="answer"))
    total = _collect([c async for c in chat(fresh_fake, "deepseek/deepseek-chat").astream("hi")])
    reasoning = reasoning_of(total)
    assert reasoning is not None and reasoning["text"] == "think think" and reasoning["blocks"] == []
    assert total.content == "answer"


async def test_reasoning_never_goes_to_another_vendor(fresh_fake: FakeProvider) -> None:
    fresh_fake.script("deepseek", Reply(reasoning="private chain", tool_calls=[ToolCall("calc", {"e": 1})]))
    first = await chat(fresh_fake, "deepseek/deepseek-chat").ainvoke([HumanMessage("what is 2+2?")])
    for model in ("openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5", "gemini/gemini-2.5-flash"):
        await chat(fresh_fake, model).ainvoke(_tool_round(first))
        body = json.dumps(fresh_fake.last_request(_deployment(model)).body)
        assert "private chain" not in body and "reasoning_content" not in body, model


def _first_assistant(messages: list[Any]) -> Any:
    return next(m for m in messages if m.get("role") in ("assistant", "model"))
