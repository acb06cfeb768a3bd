"""Smaller pieces of the CLI: the live view, terminal prompts, graph bridging, drawing, entry points."""

from __future__ import annotations

import io
import json
import runpy
import sys
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from rich.console import Console
from typer.testing import CliRunner

from thinkgraph.cli import app, main
from thinkgraph.cli._approve import ask_decisions, jsonable
from thinkgraph.cli._common import parse_model_overrides
from thinkgraph.cli._draw import drawable_of, to_dot
from thinkgraph.cli._errors import CliError
from thinkgraph.cli._graphapi import builder_of, coerce_input, node_chains, node_names
from thinkgraph.cli._live import RunView, short
from thinkgraph.cli._target import load_target
from thinkgraph.graphs import (
    CostUpdated,
    Graph,
    NodeFinished,
    NodeStarted,
    ReasoningDelta,
    RunInterrupted,
    TokenDelta,
    ToolCalled,
    ToolReturned,
)
from thinkgraph.models import ModelSpec

HERE = Path(__file__).parent


# --- the live view -------------------------------------------------------------------------


def _events() -> list[Any]:
    ids: dict[str, Any] = {"run_id": "r1", "thread_id": "t1"}
    failed = AIMessage(
        "ok",
        response_metadata={
            "thinkgraph": {
                "model": "anthropic/claude-haiku-4-5",
                "provider": "anthropic",
                "fallback": True,
                "attempts": [
                    {
                        "model": "openai/gpt-4o-mini",
                        "provider": "openai",
                        "error_class": "RateLimitedError",
                        "message": "",
                        "latency_s": 0.1,
                        "skipped": False,
                    },
                    {
                        "model": "openai/gpt-4o-mini",
                        "provider": "openai",
                        "error_class": "X",
                        "message": "",
                        "latency_s": 0.0,
                        "skipped": True,
                    },
                    {
                        "model": "anthropic/claude-haiku-4-5",
                        "provider": "anthropic",
                        "error_class": None,
                        "message": "",
                        "latency_s": 0.1,
                        "skipped": False,
                    },
                ],
            }
        },
    )
    return [
        NodeStarted(node="plan", task="plan", task_id="1", **ids),
        NodeStarted(node="plan", task="inner", task_id="2", namespace=("plan:1",), **ids),
        TokenDelta(node="plan", text="Thinking [about] it", **ids),
        ReasoningDelta(node="plan", text="because", model="deepseek/deepseek-reasoner", **ids),
        ReasoningDelta(node="other", text="x", **ids),
        TokenDelta(node="plan", text=" more", **ids),
        ToolCalled(node="plan", name="search", args={"q": "[x]"}, call_id="c1", **ids),
        ToolCalled(node="plan", name="search", args={"q": "[x]"}, call_id="c1", **ids),
        ToolReturned(node="plan", name="search", call_id="c1", content="found", **ids),
        ToolReturned(node="plan", name="search", call_id="c1", content="found", **ids),
        ToolReturned(node="plan", name=None, call_id=None, content={"e": 1}, is_error=True, **ids),
        CostUpdated(
            node="plan",
            model="anthropic/claude-haiku-4-5",
            provider="anthropic",
            cost_usd=0.5,
            total_cost_usd=0.5,
            model_calls=1,
            input_tokens=10,
            output_tokens=5,
            unpriced=False,
            fallback=True,
            **ids,
        ),
        CostUpdated(
            node="planner",
            model="ollama/x",
            provider="ollama",
            cost_usd=None,
            total_cost_usd=0.5,
            model_calls=2,
            input_tokens=1,
            output_tokens=1,
            unpriced=True,
            fallback=False,
            **ids,
        ),
        NodeFinished(node="plan", task="inner", task_id="2", update={}, namespace=("plan:1",), **ids),
        NodeFinished(node="plan", task="plan", task_id="1", update={"messages": [failed], "n": (1,)}, **ids),
        NodeStarted(node="act", task="act", task_id="3", **ids),
        NodeFinished(node="act", task="act", task_id="3", update={}, error="ValueError: bad", **ids),
        RunInterrupted(interrupts=(("i1", {"type": "tool_approval"}),), **ids),
    ]


def test_live_view_renders_on_a_terminal_and_summarizes() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=160)
    view = RunView(console, live=True, offline="the fake provider at http://127.0.0.1:1")
    with view:
        for event in _events():
            view.handle(event)
        rendered = view._render()
        console.print(rendered)
    console.print(view.table())
    text = buffer.getvalue()
    assert "OFFLINE" in text and "thread t1" in text
    assert "summary (offline)" in text and "(model)" in text and "+1 unpriced" in text
    summary = view.summary()
    assert summary["model_calls"] == 2 and summary["unpriced_calls"] == 1
    nodes = {n["node"]: n for n in summary["nodes"]}
    assert (
        nodes["plan"]["status"] == "done"
        and nodes["plan"]["tool_calls"] == 1
        and nodes["plan"]["fallbacks"] == 1
    )
    assert nodes["act"]["status"] == "failed" and nodes["planner"]["status"] == ""


def test_plain_view_prints_one_line_per_fact() -> None:
    buffer = io.StringIO()
    view = RunView(Console(file=buffer, width=200), live=False)
    for event in _events():
        view.handle(event)
    lines = buffer.getvalue().splitlines()
    assert "▶ plan started" in lines
    assert '→ plan calls search({"q": "[x]"})' in lines
    assert sum(line.startswith("→ plan calls search") for line in lines) == 1  # repeated call ids once
    assert "← search: found" in lines and '←✗ tool: {"e": 1}' in lines
    assert "↪ plan: openai/gpt-4o-mini [openai] RateLimitedError" in lines
    assert "↪ plan: openai/gpt-4o-mini [openai] skipped (circuit open)" in lines
    assert "↪ plan: fell over to anthropic/claude-haiku-4-5 [anthropic]" in lines
    assert "… plan reasoning (deepseek/deepseek-reasoner): because" in lines
    assert "✗ act failed: ValueError: bad" in lines
    assert "⏸ paused: 1 decision(s) needed" in lines
    quiet = io.StringIO()
    silent = RunView(Console(file=quiet), live=True, quiet=True, offline="x")
    silent.start()
    for event in _events():
        silent.handle(event)
    silent.stop()
    assert quiet.getvalue() == "" and silent.summary()["model_calls"] == 2


def test_short_falls_back_to_repr() -> None:
    loop: list[Any] = []
    loop.append(loop)
    assert short(loop).startswith("[[")


# --- terminal prompts ----------------------------------------------------------------------


def _answers(monkeypatch: pytest.MonkeyPatch, text: str, interrupts: list[tuple[str, Any]]) -> Any:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    return ask_decisions(interrupts)


def test_prompts_for_questions_and_edits(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    approval = {"type": "tool_approval", "tool": "pay", "args": {"amount": 5}}
    assert _answers(monkeypatch, "Blue\n", [("q", "Which colour?")]) == {"q": "Blue"}
    assert _answers(monkeypatch, '{"pick": 2}\n', [("q", {"ask": "which"})]) == {"q": {"pick": 2}}
    assert _answers(monkeypatch, "true\n", [("q", "ok?")]) == {"q": True}
    assert _answers(monkeypatch, "{broken\n", [("q", "ok?")]) == {"q": "{broken"}
    edited = _answers(monkeypatch, 'e\nnot json\n[1]\n{"amount": 2}\n', [("a", approval)])
    assert edited == {"a": {"action": "edit", "args": {"amount": 2}}}
    err = capsys.readouterr().err
    assert "not valid JSON" in err and "must be a JSON object" in err
    assert _answers(monkeypatch, "r\n\n", [("a", approval)]) == {"a": {"action": "reject", "reason": None}}
    assert _answers(monkeypatch, "", [("a", approval)]) is None


def test_jsonable_survives_odd_values() -> None:
    class Broken:
        def model_dump(self, mode: str) -> Any:
            raise ValueError("no")

    assert jsonable(Broken()).startswith("<")
    deep: Any = "x"
    for _ in range(60):
        deep = [deep]
    assert "[" in json.dumps(jsonable(deep))


# --- model overrides as JSON specs ----------------------------------------------------------


def test_model_override_as_a_json_spec() -> None:
    spec = '{"model": "hosted_vllm/qwen", "api_base": "http://127.0.0.1:8000/v1"}'
    assert parse_model_overrides([f"executor={spec}"]) == {"executor": [json.loads(spec)]}
    with pytest.raises(CliError, match="not a valid JSON model spec"):
        parse_model_overrides(["x={nope"])
    with pytest.raises(CliError, match="'model' string"):
        parse_model_overrides(['x={"api_base": "http://x"}'])


# --- bridging to thinkgraph.graphs ---------------------------------------------------------


class Chat(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


class Fields(TypedDict):
    ticket: str
    priority: int


class TwoTexts(TypedDict):
    a: str
    b: str


def _graph(schema: type[Any]) -> Graph:
    graph = Graph(schema, name="g")
    graph.add_node("n", lambda state: {})
    graph.add_edge(START, "n")
    graph.add_edge("n", END)
    return graph


def test_text_input_goes_to_messages_or_the_one_text_field() -> None:
    assert coerce_input(_graph(Chat), "hi") == {"messages": [{"role": "user", "content": "hi"}]}
    assert coerce_input(_graph(Fields), "hi") == {"ticket": "hi"}
    assert coerce_input(_graph(Fields), {"ticket": "x"}) == {"ticket": "x"}

    class Other(TypedDict):
        body: str
        n: int

    assert coerce_input(_graph(Other), "hi") == {"body": "hi"}
    with pytest.raises(CliError, match="pass the input as a JSON object"):
        coerce_input(_graph(TwoTexts), "hi")


def test_graph_bridge_needs_a_thinkgraph_graph() -> None:
    graph = _graph(Chat)
    graph.set_model("helper", "openai/gpt-4o-mini")
    assert node_names(graph) == ["n", "helper"]
    assert node_chains(graph)["n"] is None
    assert [s.model for s in node_chains(graph)["helper"] or []] == ["openai/gpt-4o-mini"]
    assert builder_of(type("Wrapper", (), {"builder": graph})()) is graph
    with pytest.raises(CliError, match="not a thinkgraph Graph"):
        builder_of(StateGraph(Chat))


# --- drawing -------------------------------------------------------------------------------


def test_drawing_langgraph_graphs_and_labels() -> None:
    state_graph = StateGraph(Chat)
    state_graph.add_node("a", lambda s: {})
    state_graph.add_node("b", lambda s: {})
    state_graph.add_edge(START, "a")
    state_graph.add_conditional_edges("a", lambda s: "go", {"go": "b", "stop": END})
    state_graph.add_edge("b", END)
    dot = to_dot(drawable_of(state_graph))
    assert '"a" -> "b" [style=dashed, label="go"];' in dot
    assert '"a" -> "__end__" [style=dashed, label="stop"];' in dot
    assert to_dot(drawable_of(state_graph.compile())) == dot


# --- entry points --------------------------------------------------------------------------


def test_version_main_and_module_entry(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == "thinkgraph 0.1.0\n"
    monkeypatch.setattr(sys, "argv", ["thinkgraph", "--version"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 0
    with pytest.raises(SystemExit):
        runpy.run_module("thinkgraph.cli", run_name="__main__")
    assert capsys.readouterr().out.count("thinkgraph 0.1.0") == 2


def test_yaml_target_takes_no_attribute(tmp_path: Path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text("name: x\n")
    with pytest.raises(CliError, match="a YAML file holds one graph"):
        load_target(f"{flow}:graph")
    assert ModelSpec(model="openai/x").model == "openai/x"
