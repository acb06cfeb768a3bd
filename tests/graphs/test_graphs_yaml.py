"""Declarative graphs: validation errors name the file, the field path and the problem; agent kinds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import thinkgraph
from thinkgraph.exceptions import ConfigError
from thinkgraph.graphs import AGENT_KINDS, Budget, GraphSpec, Residency, load_graph

GOOD_STATE = "state:\n  log: {type: 'list[str]', reducer: append}\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "graph.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[1, 2]", "must be a mapping at the top"),
        ("nodes: {a: [", "not valid YAML"),
        (GOOD_STATE, "nodes: Field required"),
        (GOOD_STATE + "nodes:\n  a: {kind: function}\n", "nodes.a: a 'function' node needs 'function"),
        (
            GOOD_STATE + "nodes:\n  a: {function: 'tg_graphs_support:nope'}\n",
            "nodes.a: module 'tg_graphs_support' has no attribute 'nope'",
        ),
        (
            GOOD_STATE + "nodes:\n  a: {function: 'no_such_module_xyz:f'}\n",
            "cannot import module 'no_such_module_xyz'",
        ),
        (GOOD_STATE + "nodes:\n  a: {function: 'not a path'}\n", "is not an import path"),
        (GOOD_STATE + "nodes:\n  a: {function: 'tg_graphs_support:FAKE_KEY_ENV'}\n", "is not callable"),
        (
            GOOD_STATE + "nodes:\n  a: {function: 'tg_graphs_support:plan', model: 42}\n",
            "nodes.a.model",
        ),
        (
            GOOD_STATE
            + "nodes:\n  a: {function: 'tg_graphs_support:plan', model: 'openai/x', surprise: 1}\n",
            "nodes.a.surprise: Extra inputs are not permitted",
        ),
        ("state:\n  x: {type: complex}\nnodes: {}\n", "state.x.type: unknown type 'complex'"),
        (
            GOOD_STATE + "nodes:\n  a: {function: 'tg_graphs_support:plan'}\nedges: [[START, b]]\n",
            "edges[0] names 'b', which is not a node",
        ),
        (
            GOOD_STATE + "nodes:\n  a: {function: 'tg_graphs_support:plan'}\nedges: [[START, a, b]]\n",
            "edges.0: an edge is [from, to]",
        ),
        (
            GOOD_STATE + "nodes:\n  a: {function: 'tg_graphs_support:plan'}\n"
            "routes: [{from: z, router: 'tg_graphs_support:after_review'}]\n",
            "routes[0].from names 'z'",
        ),
        (
            GOOD_STATE + "nodes:\n  a: {function: 'tg_graphs_support:plan'}\n"
            "routes: [{from: a, router: 'tg_graphs_support:after_review', map: {x: nowhere}}]\n",
            "routes[0].map names 'nowhere'",
        ),
        (
            GOOD_STATE + "nodes:\n  a: {kind: react, roles: {critic: openai/x}}\n",
            "kind 'react' has no model role 'critic'",
        ),
        (GOOD_STATE + "nodes:\n  a: {kind: agent}\n", "an 'agent' node needs 'factory"),
        (
            GOOD_STATE + "nodes:\n  a: {kind: react, function: 'tg_graphs_support:plan'}\n",
            "'function' is only for kind 'function'",
        ),
        (
            GOOD_STATE
            + "policies: {budget: {max_cost_usd: -1}}\nnodes:\n  a: {function: 'tg_graphs_support:plan'}\n",
            "policies.budget.max_cost_usd",
        ),
    ],
)
def test_errors_name_the_file_the_field_and_the_problem(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_graph(path, memory=True)
    message = str(error.value)
    assert message.startswith(repr(str(path)))
    assert expected in message


def test_missing_file_and_build_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the graph file"):
        load_graph(tmp_path / "absent.yaml")
    residency = (
        "state:\n  log: list\nmodel: openai/gpt-4o-mini\npolicies: {residency: {providers: [ollama]}}\n"
        "nodes:\n  a: {function: 'tg_graphs_support:plan'}\nedges: [[START, a], [a, END]]\n"
    )
    with pytest.raises(ConfigError, match=r"graph\.yaml'.*node 'a' may only call providers ollama"):
        load_graph(write(tmp_path, residency), memory=True)


def test_policies_state_and_agent_kinds(tmp_path: Path) -> None:
    text = """
name: kinds
state:
  messages: messages
  traces: {type: list, reducer: append}
  log: {type: "list[str]", reducer: "operator:add"}
  counts: {type: "dict[str, any]", reducer: messages}
  steps: int
  outcome: any
  structured_response: any
model: openai/gpt-4o-mini
model_timeout: 20
reasoning_effort: low
policies:
  budget: {max_cost_usd: 0.5, max_model_calls: 10, on_exceed: downgrade}
  residency: {providers: [openai, anthropic]}
nodes:
  react:
    kind: react
    prompt: Be brief.
    tools: ["thinkgraph.tools:calculator"]
    options: {max_steps: 3}
  reflect:
    kind: reflection
    model: {model: anthropic/claude-3-5-haiku-20241022, timeout: 5}
    roles: {critic: openai/gpt-4o}
  custom:
    kind: agent
    factory: thinkgraph.agents.build_tool_agent
    options: {tools: []}
edges:
  - [START, react]
  - [react, reflect]
  - [[reflect], custom]
  - [custom, END]
"""
    spec = GraphSpec.from_file(write(tmp_path, text))
    assert spec.policies.budget == Budget(max_cost_usd=0.5, max_model_calls=10, on_exceed="downgrade")
    assert spec.policies.residency == Residency(providers=frozenset({"openai", "anthropic"}))
    app = load_graph(tmp_path / "graph.yaml", memory=True)
    assert app.name == "kinds"
    assert app.budget == spec.policies.budget
    assert set(app.graph.get_graph().nodes) >= {"react", "reflect", "custom"}
    resolver = app.resolver
    critic = resolver.resolve("reflect", role="critic")
    assert critic.chain is not None and critic.chain[0].model == "openai/gpt-4o"
    main = resolver.resolve("reflect")
    assert main.chain is not None and (main.chain[0].model, main.chain[0].timeout) == (
        "anthropic/claude-3-5-haiku-20241022",
        5.0,
    )
    react = resolver.resolve("react")
    assert react.chain is not None and (react.chain[0].timeout, react.chain[0].reasoning_effort) == (
        20.0,
        "low",
    )
    assert set(AGENT_KINDS) == {"react", "plan_execute", "reflection", "router"}
    state = spec.state_schema()
    assert set(state.__annotations__) == {
        "messages",
        "traces",
        "log",
        "counts",
        "steps",
        "outcome",
        "structured_response",
    }


def test_public_names_are_exported_lazily() -> None:
    code = (
        "import sys, thinkgraph\n"
        "assert 'litellm' not in sys.modules and 'langgraph' not in sys.modules\n"
        "assert 'Graph' in dir(thinkgraph)\n"
        "from thinkgraph import Graph, load_graph, Budget, Residency, CompiledGraph, RunResult, NodeModel\n"
        "assert 'litellm' not in sys.modules\n"
        "print(Graph.__module__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "thinkgraph.graphs._builder"
    assert thinkgraph.load_graph is load_graph
    import thinkgraph.graphs as graphs

    assert graphs.__all__ == sorted(graphs.__all__, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    for name in graphs.__all__:
        assert getattr(graphs, name).__doc__ or name in ("END", "START")
