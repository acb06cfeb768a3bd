"""Small pieces of the fake provider and the package surface, exercised directly."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import aiohttp
import pytest

import thinkgraph.testing
from thinkgraph.testing import FakeProvider, FakeRequest, Fault, Reply, ToolCall


def test_exported_surface_is_sorted_and_complete() -> None:
    exported = thinkgraph.testing.__all__
    assert exported == sorted(exported)
    assert {
        "FakeProvider",
        "FakeRequest",
        "Fault",
        "Reply",
        "ScriptedModel",
        "TestModel",
        "ToolCall",
        "is_loopback_host",
        "no_model_requests",
    } <= set(exported)
    for name in exported:
        assert getattr(thinkgraph.testing, name) is not None


def test_importing_the_package_does_not_import_litellm() -> None:
    code = "import sys, thinkgraph.testing; assert 'litellm' not in sys.modules, 'litellm imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_tool_call_arguments() -> None:
    assert ToolCall("f", {"b": 1, "a": [2]}).arguments_json() == '{"a":[2],"b":1}'
    assert ToolCall("f", '{"x": 1}').arguments_json() == '{"x": 1}'
    assert ToolCall("f", '{"x": 1}').arguments_dict() == {"x": 1}
    assert ToolCall("f", "not json").arguments_dict() == {}
    assert ToolCall("f", "[1]").arguments_dict() == {}


def test_reply_estimates() -> None:
    reply = Reply(text="12345678", reasoning="abcd", tool_calls=[ToolCall("f")])
    assert reply.resolved_reasoning_tokens() == 1
    assert reply.resolved_output_tokens() == 2 + 1 + 1
    assert reply.resolved_finish_reason() == "tool_calls"
    assert Reply(finish_reason="length").resolved_finish_reason() == "length"
    assert Reply().resolved_output_tokens() == 1


def _request(body: Any) -> FakeRequest:
    return FakeRequest("d", "openai", "POST", "/", {}, body, "m", False, 0.0)


def test_fake_request_messages_by_shape() -> None:
    assert _request({"messages": [1]}).messages == [1]
    assert _request({"contents": [2]}).messages == [2]
    assert _request({"prompt": "p"}).messages == ["p"]
    assert _request({"other": 1}).messages == []
    assert _request(None).messages == []


async def _raw(url: str, body: Any) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        return response.status, await response.text()


async def test_echo_reads_content_parts(fake: FakeProvider) -> None:
    content = [{"type": "text", "text": "part one, "}, "part two", {"type": "image_url", "image_url": {}}]
    body = {"model": "m", "messages": [{"role": "user", "content": content}, {"role": "user", "content": 5}]}
    _, text = await _raw(fake.api_base("d") + "/chat/completions", body)
    assert json.loads(text)["choices"][0]["message"]["content"] == "echo: "
    body["messages"] = body["messages"][:1]
    _, text = await _raw(fake.api_base("d") + "/chat/completions", body)
    assert json.loads(text)["choices"][0]["message"]["content"] == "echo: part one, part two"
    _, text = await _raw(fake.api_base("d") + "/chat/completions", {"messages": [{"role": "system"}]})
    assert json.loads(text)["choices"][0]["message"]["content"] == "echo: "


async def test_gemini_echo_without_text_parts_and_default_text_block(fake: FakeProvider) -> None:
    url = fake.api_base("g", "gemini") + "/models/gm:generateContent"
    _, text = await _raw(url, {"contents": [{"role": "user", "parts": [{"inlineData": {}}]}]})
    assert json.loads(text)["candidates"][0]["content"]["parts"] == [{"text": "echo: "}]
    status, text = await _raw(url, {"contents": "not a list"})
    assert status == 200
    _, text = await _raw(fake.api_base("g", "gemini") + "/models/:generateContent", {})
    assert fake.last_request().model == ""
    fake.script("a", Reply())
    _, text = await _raw(fake.api_base("a", "anthropic") + "/v1/messages", {"messages": []})
    assert json.loads(text)["content"] == [{"type": "text", "text": ""}]


@pytest.mark.parametrize(
    ("path", "body", "marker"),
    [
        ("/v1/chat/completions", {"messages": [], "stream": True}, "broken"),
        ("/v1/messages", {"messages": [], "stream": True}, "message_start"),
        ("/v1beta/models/g:streamGenerateContent?alt=sse", {"contents": []}, "candidates"),
        ("/api/chat", {"messages": []}, '"content": '),
    ],
)
async def test_malformed_streams_are_not_valid_json(
    fake: FakeProvider, path: str, body: Any, marker: str
) -> None:
    fake.script("m", Fault.malformed())
    status, text = await _raw(f"{fake.url}/d/m{path}", body)
    assert status == 200 and marker in text
    payload = text.split("data: ", 1)[-1].strip()
    with pytest.raises(json.JSONDecodeError):
        json.loads(payload)


async def test_ollama_generate_prompt_and_errors(fake: FakeProvider) -> None:
    url = fake.api_base("o", "ollama") + "/api/generate"
    _, text = await _raw(url, {"model": "llama", "prompt": "say hi", "stream": False})
    assert json.loads(text)["response"] == "echo: say hi"
    fake.script("o", Reply(text="t", reasoning="why"), Fault.auth())
    _, text = await _raw(url, {"model": "llama", "stream": False})
    assert json.loads(text)["thinking"] == "why"
    status, text = await _raw(url, {"model": "llama", "stream": False})
    assert status == 401 and "error" in json.loads(text)
