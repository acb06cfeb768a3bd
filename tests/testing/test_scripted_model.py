"""ScriptedModel: replay, tools, structured output, streaming, metadata, concurrency."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel
from typing_extensions import TypedDict

from thinkgraph.exceptions import ConfigError, RateLimitedError
from thinkgraph.models._metadata import call_info_of, reasoning_of
from thinkgraph.testing import Reply, ScriptedModel, ToolCall


class Verdict(BaseModel):
    score: int
    label: str


class Point(TypedDict):
    x: int
    y: int


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def _check_contract(message: BaseMessage, model: str = "scripted/model") -> None:
    info = call_info_of(message)
    assert info is not None
    assert (info["model"], info["requested_model"], info["provider"]) == (model, model, "scripted")
    assert info["fallback"] is False
    assert [a["error_class"] for a in info["attempts"]] == [None]
    assert info["input_tokens"] > 0 and info["output_tokens"] > 0
    assert isinstance(message, AIMessage) and message.usage_metadata is not None
    assert message.usage_metadata["input_tokens"] == info["input_tokens"]
    assert message.usage_metadata["output_tokens"] == info["output_tokens"]
    assert message.usage_metadata["total_tokens"] == info["input_tokens"] + info["output_tokens"]


async def test_replays_strings_messages_dicts_and_replies_in_order() -> None:
    model = ScriptedModel(
        [
            "first",
            AIMessage(content="second", tool_calls=[{"name": "add", "args": {"a": 1, "b": 2}, "id": "c1"}]),
            {
                "text": "third",
                "tool_calls": [{"name": "add", "args": '{"a": 3, "b": 4}'}],
                "reasoning": "why",
            },
            Reply(
                text="fourth", tool_calls=[ToolCall("add", {"a": 5, "b": 6})], reasoning="r", signature="s"
            ),
        ],
        model_name="planner",
    )
    assert model.remaining == 4
    first = await model.ainvoke("hello")
    assert first.content == "first" and first.tool_calls == []
    second = await model.ainvoke("again")
    assert second.tool_calls == [{"name": "add", "args": {"a": 1, "b": 2}, "id": "c1", "type": "tool_call"}]
    third = model.invoke("sync call")
    assert third.tool_calls[0]["args"] == {"a": 3, "b": 4} and str(third.tool_calls[0]["id"]).startswith(
        "call_"
    )
    reasoning = reasoning_of(third)
    assert reasoning is not None and reasoning["text"] == "why" and reasoning["blocks"] == []
    assert reasoning["provider"] == "scripted" and reasoning["model"] == "scripted/planner"
    fourth = await model.ainvoke("last")
    fourth_reasoning = reasoning_of(fourth)
    assert fourth_reasoning is not None
    assert fourth_reasoning["blocks"] == [{"type": "thinking", "thinking": "r", "signature": "s"}]
    for message in (first, second, third, fourth):
        _check_contract(message, "scripted/planner")
    assert reasoning_of(first) is None
    assert model.remaining == 0
    assert [c[-1].content for c in model.conversations] == ["hello", "again", "sync call", "last"]


async def test_exhausted_script_raises_a_clear_error() -> None:
    model = ScriptedModel(["only"], model_name="writer")
    await model.ainvoke("a")
    with pytest.raises(ConfigError, match=r"'writer' has no item left for call 2: 1 item\(s\) were scripted"):
        await model.ainvoke("b")


async def test_function_answers_when_no_items_and_exceptions_are_raised() -> None:
    def reply(messages: list[BaseMessage]) -> Any:
        return f"seen {len(messages)} messages"

    model = ScriptedModel([RateLimitedError("slow down", model="scripted/model")], function=reply)
    with pytest.raises(RateLimitedError):
        await model.ainvoke("x")
    answer = await model.ainvoke([HumanMessage("a"), AIMessage("b"), HumanMessage("c")])
    assert answer.content == "seen 3 messages"
    assert len(model.calls) == 2


async def test_token_overrides_and_fixed_price() -> None:
    model = ScriptedModel(
        [{"text": "x", "input_tokens": 100, "output_tokens": 7, "reasoning_tokens": 3}], cost_per_call=0.25
    )
    message = await model.ainvoke("q")
    info = call_info_of(message)
    assert info is not None
    assert (info["input_tokens"], info["output_tokens"], info["reasoning_tokens"]) == (100, 7, 3)
    assert (info["cost_usd"], info["unpriced"]) == (0.25, False)
    unpriced = call_info_of(await ScriptedModel(["y"]).ainvoke("q"))
    assert unpriced is not None and (unpriced["cost_usd"], unpriced["unpriced"]) == (None, True)


def test_token_estimates_are_deterministic() -> None:
    conversation = [
        HumanMessage("How many tokens is this?"),
        AIMessage("some", tool_calls=[{"name": "t", "args": {}, "id": "1"}]),
    ]
    a = call_info_of(ScriptedModel(["the same answer"]).invoke(conversation))
    b = call_info_of(ScriptedModel(["the same answer"]).invoke(conversation))
    assert a == b


async def test_bind_tools_records_tools_and_keeps_replaying() -> None:
    model = ScriptedModel([{"tool_calls": [{"name": "add", "args": {"a": 1, "b": 2}, "id": "t1"}]}, "done"])
    bound = model.bind_tools([add], tool_choice="auto")
    call = await bound.ainvoke("add please")
    assert call.tool_calls[0]["id"] == "t1"
    final = await bound.ainvoke([HumanMessage("add please"), call, ToolMessage("3", tool_call_id="t1")])
    assert final.content == "done"
    assert [t["function"]["name"] for t in model.bound_tools] == ["add"]
    assert model.calls[0].tools == model.bound_tools
    assert isinstance(model.calls[1].messages[-1], ToolMessage)


async def test_structured_output_from_instances_dicts_and_json() -> None:
    model = ScriptedModel(
        [Verdict(score=1, label="a"), {"score": 2, "label": "b"}, '{"score": 3, "label": "c"}']
    )
    structured = model.with_structured_output(Verdict)
    assert await structured.ainvoke("rate") == Verdict(score=1, label="a")
    assert structured.invoke("rate") == Verdict(score=2, label="b")
    raw: Any = await model.with_structured_output(Verdict, include_raw=True).ainvoke("rate")
    assert raw["parsed"] == Verdict(score=3, label="c") and raw["parsing_error"] is None
    _check_contract(raw["raw"])
    assert model.calls[0].structured is Verdict


async def test_structured_output_with_typeddict_and_json_schema() -> None:
    model = ScriptedModel([{"x": 1, "y": 2}, {"name": "n"}, {"other": 1}, [1]])
    assert await model.with_structured_output(Point).ainvoke("p") == {"x": 1, "y": 2}
    schema = {
        "title": "Named",
        "type": "object",
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
    }
    assert await model.with_structured_output(schema).ainvoke("n") == {"name": "n"}
    with pytest.raises(ConfigError, match=r"does not match schema 'Named'.*missing required field"):
        await model.with_structured_output(schema).ainvoke("n")
    with pytest.raises(ConfigError, match="expected a JSON object"):
        await model.with_structured_output(schema).ainvoke("n")


async def test_structured_output_errors() -> None:
    model = ScriptedModel(["not json", {"score": "high"}, "also not json"])
    with pytest.raises(ConfigError, match=r"'not json' is not JSON for schema 'Verdict'"):
        await model.with_structured_output(Verdict).ainvoke("x")
    with pytest.raises(ConfigError, match="does not match schema 'Verdict'"):
        await model.with_structured_output(Verdict).ainvoke("x")
    raw: Any = await model.with_structured_output(Verdict, include_raw=True).ainvoke("x")
    assert raw["parsed"] is None and isinstance(raw["parsing_error"], ConfigError)


async def test_astream_chunks_text_and_merges_to_the_full_message() -> None:
    model = ScriptedModel(
        [Reply(text="one two three four", tool_calls=[ToolCall("add", {"a": 1, "b": 1})], reasoning="hm")]
    )
    chunks: list[AIMessageChunk] = [chunk async for chunk in model.astream("go")]
    assert [c.content for c in chunks[:-1]] == ["one ", "two ", "three ", "four"]
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert merged.content == "one two three four"
    assert merged.tool_calls == [
        {"name": "add", "args": {"a": 1, "b": 1}, "id": merged.tool_calls[0]["id"], "type": "tool_call"}
    ]
    assert str(merged.tool_calls[0]["id"]).startswith("call_")
    reasoning = reasoning_of(merged)
    assert reasoning is not None and reasoning["text"] == "hm"
    _check_contract(merged)


def test_sync_stream() -> None:
    model = ScriptedModel(["alpha beta"])
    assert [c.content for c in model.stream("go")] == ["alpha ", "beta", ""]


async def test_shared_across_concurrent_runs_each_item_used_once() -> None:
    model = ScriptedModel([f"answer {i}" for i in range(50)])
    answers = await asyncio.gather(*(model.ainvoke(f"q{i}") for i in range(50)))
    assert sorted(a.content for a in answers) == sorted(f"answer {i}" for i in range(50))
    assert model.remaining == 0 and len(model.calls) == 50


@pytest.mark.parametrize(
    ("item", "error"),
    [
        (42, "cannot replay 42"),
        ({"txt": "typo"}, "unknown keys \\['txt'\\]"),
        ({"tool_calls": [42]}, "cannot read tool call 42"),
    ],
)
def test_bad_items_raise_config_errors(item: Any, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        ScriptedModel([item]).invoke("x")


def test_model_string_and_llm_type() -> None:
    model = ScriptedModel(model_name="critic")
    assert model.model == "scripted/critic"
    assert model._llm_type == "thinkgraph-scripted"
    assert json.loads(str(ScriptedModel([Verdict(score=1, label="x")]).invoke("q").content))["score"] == 1


async def test_message_and_tool_call_ids_are_unique_across_models() -> None:
    items = [{"tool_calls": [{"name": "t", "args": {}}]}]
    a, b = ScriptedModel(list(items)), ScriptedModel(list(items))
    first, second = await a.ainvoke("q"), await b.ainvoke("q")
    assert first.id and second.id and first.id != second.id
    assert first.tool_calls[0]["id"] != second.tool_calls[0]["id"]
