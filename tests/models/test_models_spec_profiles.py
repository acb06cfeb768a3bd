"""ModelSpec, provider profiles, credentials, resolve_model, message conversion and replay rules."""

from __future__ import annotations

from types import ModuleType

import pytest
import yaml
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import (
    AIMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
)

import thinkgraph.models as models
from thinkgraph.exceptions import ConfigError
from thinkgraph.models import (
    PROFILES,
    REASONING_KEY,
    ChatModel,
    ModelSpec,
    Reasoning,
    as_spec,
    profile_for,
    provider_of,
    required_credentials,
    resolve_model,
)
from thinkgraph.models._convert import ReasoningAccumulator, parse_tool_calls, to_litellm_messages


def test_exported_surface_is_complete() -> None:
    for name in models.__all__:
        assert getattr(models, name) is not None
    for name in (
        "ChatModel",
        "ModelSpec",
        "resolve_model",
        "CallInfo",
        "Reasoning",
        "call_info_of",
        "reasoning_of",
    ):
        assert name in models.__all__


def test_spec_from_string_mapping_and_yaml() -> None:
    assert as_spec("openai/gpt-4o-mini") == ModelSpec(model="openai/gpt-4o-mini")
    text = """
    model: anthropic/claude-sonnet-4-5
    api_key_env: MY_ANTHROPIC_KEY
    timeout: 12
    max_retries: 1
    reasoning_effort: high
    params: {top_p: 0.9}
    pricing: {input: 0.000003, output: 0.000015}
    context_window: 200000
    """
    spec = as_spec(yaml.safe_load(text))
    assert spec.api_key_env == "MY_ANTHROPIC_KEY" and spec.timeout == 12.0 and spec.params == {"top_p": 0.9}
    assert spec.pricing is not None and spec.pricing.output == 0.000015
    assert ModelSpec.model_validate_json(spec.model_dump_json()) == spec
    assert ModelSpec.model_validate("openai/x").model == "openai/x"
    assert as_spec(spec) is spec


def test_spec_refuses_secrets_without_echoing_them() -> None:
    with pytest.raises(ConfigError) as caught:
        as_spec({"model": "openai/gpt-4o", "api_key": "sk-live-123"})
    assert "api_key_env" in str(caught.value) and "sk-live-123" not in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        as_spec({"model": "openai/gpt-4o", "params": {"api_key": "sk-live-456"}})
    assert "params.api_key" in str(caught.value) and "sk-live-456" not in str(caught.value)


@pytest.mark.parametrize(
    "bad",
    [
        {"model": ""},
        {"model": "openai/"},
        {"model": "openai/x", "timeout": 0},
        {"model": "openai/x", "api_key_env": "not a name"},
        {"model": "openai/x", "surprise": 1},
        {"model": "openai/x", "pricing": {"input": -1, "output": 0}},
    ],
)
def test_invalid_specs(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="invalid model spec"):
        as_spec(bad)


def test_as_spec_rejects_other_types() -> None:
    with pytest.raises(ConfigError, match="expected a model string"):
        as_spec(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("model", "provider", "profile"),
    [
        ("openai/gpt-4o-mini", "openai", "openai"),
        ("openai/o3-mini", "openai", "openai-reasoning"),
        ("openai/gpt-5", "openai", "openai-reasoning"),
        ("anthropic/claude-sonnet-4-5", "anthropic", "anthropic"),
        ("azure/my-deployment", "azure", "azure"),
        ("gemini/gemini-2.5-flash", "gemini", "gemini"),
        ("xai/grok-3", "xai", "xai"),
        ("deepseek/deepseek-chat", "deepseek", "deepseek"),
        ("deepseek/deepseek-v4", "deepseek", "deepseek"),
        ("deepseek/deepseek-reasoner", "deepseek", "deepseek-reasoner"),
        ("deepseek/deepseek-r1", "deepseek", "deepseek-reasoner"),
        ("mistral/mistral-large-latest", "mistral", "mistral"),
        ("together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo", "together_ai", "together_ai"),
        ("groq/llama-3.3-70b-versatile", "groq", "groq"),
        ("fireworks_ai/accounts/fireworks/models/qwen3-235b", "fireworks_ai", "fireworks_ai"),
        ("openrouter/qwen/qwen3-32b", "openrouter", "openrouter"),
        ("dashscope/qwen-max", "dashscope", "dashscope"),
        ("ollama/llama3", "ollama", "ollama"),
        ("ollama_chat/qwen3", "ollama_chat", "ollama"),
        ("hosted_vllm/meta-llama/Llama-3.1-8B", "hosted_vllm", "openai-compatible-local"),
        ("lm_studio/qwen2.5", "lm_studio", "openai-compatible-local"),
        ("gpt-4o-mini", "openai", "openai"),
        ("claude-sonnet-4-5", "anthropic", "anthropic"),
        ("someone/else", "someone", "generic"),
        ("nothing-known", "unknown", "generic"),
    ],
)
def test_provider_and_profile(litellm: ModuleType, model: str, provider: str, profile: str) -> None:
    assert provider_of(model) == provider
    assert profile_for(model).name == profile
    assert profile_for(ModelSpec(model=model)).name == profile


def test_profiles_are_frozen_data() -> None:
    names = [p.name for p in PROFILES]
    assert len(names) == len(set(names))
    with pytest.raises(AttributeError):
        PROFILES[0].tools = False  # type: ignore[misc]
    assert profile_for("anthropic/claude-sonnet-4-5").replay == "signed_blocks"
    assert profile_for("deepseek/deepseek-chat").replay == "reasoning_content"
    assert profile_for("deepseek/deepseek-reasoner").replay == "none"
    assert profile_for("ollama_chat/x").local and not profile_for("openai/x").local


def test_required_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    assert required_credentials("openai/gpt-4o") == ["OPENAI_API_KEY"]
    assert required_credentials("anthropic/claude-sonnet-4-5") == ["ANTHROPIC_API_KEY"]
    assert required_credentials("azure/dep") == ["AZURE_API_KEY"]
    assert required_credentials("gemini/gemini-2.5-flash") == ["GEMINI_API_KEY"]
    assert required_credentials("deepseek/deepseek-chat") == ["DEEPSEEK_API_KEY"]
    assert required_credentials("groq/llama") == ["GROQ_API_KEY"]
    assert required_credentials("ollama_chat/llama3") == []
    assert required_credentials("hosted_vllm/x") == []
    assert required_credentials(ModelSpec(model="openai/x", api_base="http://127.0.0.1:8000/v1")) == []
    assert required_credentials(ModelSpec(model="openai/x", api_base="http://localhost:8000/v1")) == []
    assert required_credentials(ModelSpec(model="openai/x", api_base="http://[::1]:8000/v1")) == []
    assert required_credentials(ModelSpec(model="openai/x", api_base="https://proxy.example.com/v1")) == [
        "OPENAI_API_KEY"
    ]
    assert required_credentials(ModelSpec(model="openai/x", api_base="localhost:8000")) == []
    assert required_credentials(ModelSpec(model="ollama/x", api_key_env="MY_OLLAMA_KEY")) == ["MY_OLLAMA_KEY"]
    assert required_credentials("someone/else") == []
    remote_ollama = ModelSpec(model="ollama_chat/llama3", api_base="http://gpu-box.example:11434")
    assert required_credentials(remote_ollama) == []  # Ollama needs no key, even remote
    assert not models.is_local(remote_ollama) and models.is_local(ModelSpec(model="ollama_chat/llama3"))


def test_resolve_model() -> None:
    chat = ChatModel("openai/gpt-4o-mini")
    assert resolve_model(chat) is chat
    other = FakeListChatModel(responses=["x"])
    assert resolve_model(other) is other
    resolved = resolve_model("anthropic/claude-sonnet-4-5")
    assert isinstance(resolved, ChatModel) and resolved.spec.model == "anthropic/claude-sonnet-4-5"
    resolved = resolve_model({"model": "openai/gpt-4o", "timeout": 3})
    assert isinstance(resolved, ChatModel) and resolved.spec.timeout == 3
    spec = ModelSpec(model="openai/gpt-4o")
    assert resolve_model(spec).spec is spec  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="cannot use 3"):
        resolve_model(3)  # type: ignore[arg-type]


def test_chat_model_construction() -> None:
    model = ChatModel("openai/a", fallbacks="openai/b")
    assert [s.model for s in model.chain] == ["openai/a", "openai/b"]
    model = ChatModel(spec=ModelSpec(model="openai/a"), fallbacks=[{"model": "anthropic/b"}])
    assert model.fallbacks[0].model == "anthropic/b"
    assert model._identifying_params == {"model": "openai/a", "fallbacks": ["anthropic/b"]}
    assert model._llm_type == "thinkgraph-litellm"
    with pytest.raises(ConfigError, match="needs a model"):
        ChatModel()
    params = ChatModel(ModelSpec(model="openai/a", temperature=0.1, max_tokens=5))._get_ls_params(stop=["x"])
    assert (
        params["ls_provider"] == "openai" and params["ls_temperature"] == 0.1 and params["ls_stop"] == ["x"]
    )


# --- conversion and replay ---------------------------------------------------------------------


def _reasoning(model: str, text: str | None, blocks: list[dict[str, str]] | None = None) -> Reasoning:
    return {
        "text": text,
        "blocks": blocks or [],  # type: ignore[typeddict-item]
        "provider": provider_of(model),
        "model": model,
        "tokens": 3,
    }


ANTHROPIC_TURN = AIMessage(
    content="",
    tool_calls=[{"name": "lookup", "args": {"q": "x"}, "id": "toolu_1", "type": "tool_call"}],
    additional_kwargs={
        REASONING_KEY: _reasoning(
            "anthropic/claude-sonnet-4-5",
            "let me think",
            [{"type": "thinking", "thinking": "let me think", "signature": "sig-abc"}],
        )
    },
)
DEEPSEEK_TURN = AIMessage(
    content="ok",
    additional_kwargs={REASONING_KEY: _reasoning("deepseek/deepseek-chat", "deep thoughts")},
)


def _assistant(messages: list[dict[str, object]]) -> dict[str, object]:
    return next(m for m in messages if m["role"] == "assistant")


@pytest.mark.parametrize(
    ("target", "turn", "expected"),
    [
        ("anthropic/claude-sonnet-4-5", ANTHROPIC_TURN, "thinking_blocks"),
        ("anthropic/claude-opus-4-1", ANTHROPIC_TURN, "thinking_blocks"),
        ("openai/gpt-4o-mini", ANTHROPIC_TURN, None),
        ("deepseek/deepseek-chat", ANTHROPIC_TURN, None),
        ("gemini/gemini-2.5-flash", ANTHROPIC_TURN, None),
        ("deepseek/deepseek-chat", DEEPSEEK_TURN, "reasoning_content"),
        ("deepseek/deepseek-v4-flash", DEEPSEEK_TURN, "reasoning_content"),
        ("deepseek/deepseek-reasoner", DEEPSEEK_TURN, None),
        ("openai/gpt-4o-mini", DEEPSEEK_TURN, None),
        ("anthropic/claude-sonnet-4-5", DEEPSEEK_TURN, None),
        ("hosted_vllm/qwen", DEEPSEEK_TURN, None),
    ],
)
def test_replay_rules(target: str, turn: AIMessage, expected: str | None) -> None:
    sent = to_litellm_messages([HumanMessage("hi"), turn], profile_for(target))
    assistant = _assistant(sent)
    present = {k for k in ("thinking_blocks", "reasoning_content") if k in assistant}
    assert present == ({expected} if expected else set())
    if expected == "thinking_blocks":
        assert assistant["thinking_blocks"] == [
            {"type": "thinking", "thinking": "let me think", "signature": "sig-abc"}
        ]
    if expected == "reasoning_content":
        assert assistant["reasoning_content"] == "deep thoughts"


def test_conversion_of_every_message_kind() -> None:
    messages = [
        SystemMessage("be brief"),
        HumanMessage(content=["plain", {"type": "text", "text": "block", "id": "x"}]),
        ANTHROPIC_TURN,
        ToolMessage(content=[{"type": "text", "text": "result"}], tool_call_id="toolu_1"),
        AIMessage(content=[{"type": "text", "text": "done"}]),
        AIMessage(content=""),
        FunctionMessage(name="f", content="legacy"),
        ChatMessage(role="developer", content="dev note"),
    ]
    sent = to_litellm_messages(messages, profile_for("openai/gpt-4o-mini"))
    assert sent[0] == {"role": "system", "content": "be brief"}
    assert sent[1]["content"] == [{"type": "text", "text": "plain"}, {"type": "text", "text": "block"}]
    assert sent[2]["tool_calls"] == [
        {"id": "toolu_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
    ]
    assert sent[2]["content"] is None
    assert sent[3] == {"role": "tool", "tool_call_id": "toolu_1", "content": "result"}
    assert sent[4] == {"role": "assistant", "content": "done"}
    assert sent[5] == {"role": "assistant", "content": ""}
    assert sent[6] == {"role": "function", "name": "f", "content": "legacy"}
    assert sent[7] == {"role": "developer", "content": "dev note"}
    with pytest.raises(TypeError, match="RemoveMessage"):
        to_litellm_messages([RemoveMessage(id="1")], profile_for("openai/x"))


def test_image_blocks_are_converted() -> None:
    block = {"type": "image", "source_type": "url", "url": "http://127.0.0.1/cat.png"}
    sent = to_litellm_messages([HumanMessage(content=[block])], profile_for("openai/x"))
    assert sent[0]["content"][0]["type"] == "image_url"


def test_parse_tool_calls_separates_invalid_ones() -> None:
    raw = [
        {"id": "a", "function": {"name": "f", "arguments": '{"x": 1}'}},
        {"id": "b", "function": {"name": "g", "arguments": "not json"}},
        {"id": "c", "function": {"name": "h", "arguments": "[1, 2]"}},
        {"id": "d", "function": {"name": "k", "arguments": ""}},
        {"id": "e", "function": {"name": "m", "arguments": {"y": 2}}},
    ]
    calls, invalid = parse_tool_calls(raw)
    assert [(c["name"], c["args"]) for c in calls] == [("f", {"x": 1}), ("k", {}), ("m", {"y": 2})]
    assert [i["name"] for i in invalid] == ["g", "h"]


def test_reasoning_accumulator_builds_signed_blocks() -> None:
    acc = ReasoningAccumulator()
    assert acc.result(provider="anthropic", model="anthropic/c", reasoning_tokens=None) is None
    for delta in (
        {"reasoning_content": "Let ", "thinking_blocks": [{"type": "thinking", "thinking": "Let "}]},
        {"reasoning_content": "me", "thinking_blocks": [{"type": "thinking", "thinking": "me"}]},
        {"thinking_blocks": [{"type": "thinking", "thinking": "", "signature": "sig-1"}]},
        {"thinking_blocks": [{"type": "redacted_thinking", "data": "opaque"}]},
        {"thinking_blocks": [{"type": "thinking", "thinking": "again"}, {"type": "other"}]},
    ):
        acc.add(delta)
    result = acc.result(provider="anthropic", model="anthropic/c", reasoning_tokens=7)
    assert result is not None
    assert result["text"] == "Let me"
    assert result["blocks"] == [
        {"type": "thinking", "thinking": "Let me", "signature": "sig-1"},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "thinking", "thinking": "again"},
    ]
    assert result["tokens"] == 7


def test_bind_tools_refuses_a_model_without_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    import thinkgraph.models._chat as chat_module

    no_tools = dataclasses.replace(profile_for("openai/x"), tools=False)
    monkeypatch.setattr(chat_module, "profile_for", lambda _spec: no_tools)
    with pytest.raises(ConfigError, match="does not support tool calling"):
        ChatModel("openai/x").bind_tools([{"type": "function", "function": {"name": "t", "parameters": {}}}])
