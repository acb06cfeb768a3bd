"""The CLI's building blocks: targets, input, model overrides, drawing, offline plans, errors."""

from __future__ import annotations

import io
import json
import stat
import sys
import textwrap
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from thinkgraph.cli._common import database_url, display_url, parse_model_overrides
from thinkgraph.cli._draw import drawable_of, render_png, to_dot
from thinkgraph.cli._errors import EXIT_BUDGET, EXIT_CANCELLED, CliError, report_errors
from thinkgraph.cli._input import parse_input, read_input
from thinkgraph.cli._offline import deployment_name, plan_offline
from thinkgraph.cli._target import load_target, offline_script_of
from thinkgraph.exceptions import BudgetExceeded, MissingCredentialsError, RunCancelled
from thinkgraph.models import ModelSpec
from thinkgraph.testing import FakeProvider, Reply

HERE = Path(__file__).parent


# --- input ---------------------------------------------------------------------------------


def test_input_is_json_when_it_parses_and_text_otherwise() -> None:
    assert parse_input(' {"a": 1} ') == {"a": 1}
    assert parse_input("[1, 2]") == [1, 2]
    assert parse_input("  what is 2+2?\n") == "what is 2+2?"
    with pytest.raises(CliError, match="looks like JSON but does not parse"):
        parse_input("{broken")


def test_input_from_argument_file_and_stdin(tmp_path: Path) -> None:
    assert read_input("hi", None) == ("hi", False)
    data = tmp_path / "in.json"
    data.write_text('{"question": "q"}')
    assert read_input(None, data) == ({"question": "q"}, False)
    text = tmp_path / "in.txt"
    text.write_text("plain words\n")
    assert read_input(None, text) == ("plain words", False)
    assert read_input(None, Path("-"), stdin=io.StringIO('{"x": 2}')) == ({"x": 2}, True)
    assert read_input(None, None, stdin=io.StringIO("from a pipe")) == ("from a pipe", True)
    assert read_input(None, None, stdin=io.StringIO(""), required=False) == (None, False)
    with pytest.raises(CliError, match="no input"):
        read_input(None, None, stdin=io.StringIO("   "))
    with pytest.raises(CliError, match="not both"):
        read_input("x", data)
    with pytest.raises(CliError, match="cannot read --input-file"):
        read_input(None, tmp_path / "missing.txt")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(CliError, match="not valid JSON"):
        read_input(None, bad)


# --- overrides and database ----------------------------------------------------------------


def test_model_overrides_parse_chains_and_refuse_garbage() -> None:
    assert parse_model_overrides(["planner=openai/gpt-4o", "x = a/b , c/d"]) == {
        "planner": ["openai/gpt-4o"],
        "x": ["a/b", "c/d"],
    }
    assert parse_model_overrides(None) == {}
    with pytest.raises(CliError, match="NODE=provider/model"):
        parse_model_overrides(["planner"])
    with pytest.raises(CliError, match="must look like provider/model"):
        parse_model_overrides(["planner=gpt-4o"])


def test_database_url_defaults_to_settings_and_hides_passwords(home: Path) -> None:
    assert database_url(None) == f"sqlite:///{home / 'thinkgraph.db'}"
    assert database_url(" sqlite:///x.db ") == "sqlite:///x.db"
    with pytest.raises(CliError, match="--db is empty"):
        database_url("  ")
    assert display_url("postgresql://me:secret@db.local/agents") == "postgresql://me:***@db.local/agents"
    with pytest.raises(CliError, match="is not a database URL"):
        display_url("not a url")


# --- targets -------------------------------------------------------------------------------


def test_targets_by_path_attribute_module_and_convention(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = load_target(str(HERE / "cli_graphs.py"))
    assert type(target.graph).__name__ == "Graph" and target.graph.name == "two_step"
    assert offline_script_of(target)["review"][0].text == "The draft is fine."
    other = load_target(f"{HERE / 'cli_graphs.py'}:approval_graph")
    assert other.graph.name == "approvals"
    script = offline_script_of(other, f"{HERE / 'cli_graphs.py'}:APPROVAL_SCRIPT")
    assert list(script) == ["agent"]

    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "flows.py").write_text(
        textwrap.dedent(
            """
            from thinkgraph.graphs import Graph
            from typing import TypedDict
            class S(TypedDict):
                x: str
            graph = Graph(S, name="by_module")
            def offline_script():
                return {"n": ["hi"]}
            NOT_A_GRAPH = 3
            def returns_int():
                return 4
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    by_module = load_target("mypkg.flows")
    assert by_module.graph.name == "by_module" and by_module.path is None
    assert offline_script_of(by_module) == {"n": ["hi"]}
    assert load_target("mypkg.flows:graph").graph.name == "by_module"
    with pytest.raises(CliError, match="not a graph"):
        load_target("mypkg.flows:NOT_A_GRAPH")
    with pytest.raises(CliError, match="returned int, not a graph"):
        load_target("mypkg.flows:returns_int")
    with pytest.raises(CliError, match="no attribute 'nope'"):
        load_target("mypkg.flows:nope")
    with pytest.raises(CliError, match="no module or file named 'no_such_module_xyz'"):
        load_target("no_such_module_xyz")
    with pytest.raises(CliError, match="does not exist"):
        load_target("missing.py")
    with pytest.raises(CliError, match="does not exist"):
        load_target("missing.yaml")
    empty = tmp_path / "empty.py"
    empty.write_text("X = 1\n")
    with pytest.raises(CliError, match="neither 'graph' nor 'build_graph"):
        load_target(str(empty))
    assert offline_script_of(load_target(f"{empty}:X") if False else by_module, "mypkg.flows:offline_script")
    with pytest.raises(CliError, match="has no offline script"):
        offline_script_of(by_module, f"{empty}:MISSING")
    with pytest.raises(CliError, match="an offline script maps"):
        offline_script_of(by_module, "mypkg.flows:NOT_A_GRAPH")


# --- drawing -------------------------------------------------------------------------------


def test_dot_has_every_node_and_edge_with_conditional_edges_dashed() -> None:
    graph = load_target(f"{HERE / 'cli_graphs.py'}:approval_graph").graph
    drawable = drawable_of(graph)
    dot = to_dot(drawable, name='odd "name"')
    assert dot.startswith('digraph "odd \\"name\\"" {')
    for node in ("__start__", "agent", "tools", "__end__"):
        assert f'"{node}" [label=' in dot
    assert '"__start__" -> "agent";' in dot
    assert '"agent" -> "tools" [style=dashed' in dot
    assert '"tools" -> "agent";' in dot
    with pytest.raises(CliError, match="cannot draw"):
        drawable_of(object())


def test_png_is_rendered_by_local_dot_only(tmp_path: Path) -> None:
    fake_dot = tmp_path / "dot"
    fake_dot.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "source = sys.stdin.read()\n"
        "out = sys.argv[sys.argv.index('-o') + 1]\n"
        "assert sys.argv[1] == '-Tpng' and source.startswith('digraph')\n"
        "open(out, 'wb').write(b'\\x89PNG fake ' + source.encode())\n"
    )
    fake_dot.chmod(fake_dot.stat().st_mode | stat.S_IEXEC)
    out = render_png("digraph g { a -> b; }\n", tmp_path / "sub" / "g.png", dot_binary=str(fake_dot))
    assert out.read_bytes().startswith(b"\x89PNG fake digraph g")
    failing = tmp_path / "failing-dot"
    failing.write_text(
        f"#!{sys.executable}\nimport sys\nprint('syntax error in line 1', file=sys.stderr)\nsys.exit(1)\n"
    )
    failing.chmod(failing.stat().st_mode | stat.S_IEXEC)
    with pytest.raises(CliError, match="syntax error in line 1"):
        render_png("digraph {", tmp_path / "x.png", dot_binary=str(failing))
    with pytest.raises(CliError, match="failed"):
        render_png("digraph {", tmp_path / "x.png", dot_binary=str(tmp_path / "no-such-binary"))


def test_png_without_graphviz_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CliError, match="Graphviz 'dot' is not installed"):
        render_png("digraph {}", tmp_path / "x.png")


# --- offline plans -------------------------------------------------------------------------


def test_offline_plan_redirects_every_model_and_queues_scripts() -> None:
    chains = {
        "plan": [ModelSpec(model="deepseek/deepseek-reasoner")],
        "act": [
            ModelSpec(model="openai/gpt-4o-mini", timeout=5),
            ModelSpec(model="anthropic/claude-haiku-4-5"),
        ],
        "check": [ModelSpec(model="openai/gpt-4o-mini", timeout=5)],
    }
    script = {"plan": ["p1"], "act[1]": [Reply(text="a1")], "openai/gpt-4o-mini": ["shared"], "spare": ["x"]}
    with FakeProvider() as fake:
        plan = plan_offline(chains, script, fake, consumed={"plan.0": 0})
        deployments = {(r.node, r.index): r.deployment for r in plan.redirects}
        assert deployments == {
            ("plan", 0): "plan.0",
            ("act", 0): "openai_gpt-4o-mini",
            ("act", 1): "act.1",
            ("check", 0): "openai_gpt-4o-mini",
        }
        assert plan.unused_keys == ["spare"]
        assert fake.pending("plan.0") == 1 and fake.pending("act.1") == 1
        assert fake.pending("openai_gpt-4o-mini") == 1  # one shared deployment, queued once
        act = plan.chains["act"]
        assert act[0].model == "openai/gpt-4o-mini" and act[0].timeout == 5
        assert act[0].api_base == fake.api_base("openai_gpt-4o-mini", "openai")
        assert act[1].api_base == fake.api_base("act.1", "anthropic")
        assert all(s.api_key_env == "THINKGRAPH_OFFLINE_API_KEY" for c in plan.chains.values() for s in c)
        assert plan.chains["act"][0] == plan.chains["check"][0]  # same endpoint: one circuit breaker
        with pytest.raises(CliError, match="names node 'ghost'"):
            plan_offline(chains, {"ghost[0]": ["x"]}, fake)
        with pytest.raises(CliError, match="offline script key"):
            plan_offline(chains, {"": ["x"]}, fake)
    with FakeProvider() as fake:
        plan_offline(chains, {"plan": ["p1", "p2", "p3"]}, fake, consumed={"plan.0": 2})
        assert fake.pending("plan.0") == 1
    assert deployment_name("openai/gpt 4o:mini") == "openai_gpt_4o_mini"
    assert deployment_name("///") == "default"


# --- errors --------------------------------------------------------------------------------


def _app_raising(exc: BaseException) -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root(ctx: typer.Context, debug: bool = typer.Option(False, "--debug")) -> None:
        ctx.obj = {"debug": debug}

    @app.command()
    @report_errors
    def boom(ctx: typer.Context) -> None:
        raise exc

    return app


@pytest.mark.parametrize(
    ("exc", "code", "line"),
    [
        (CliError("what went wrong; do this"), 1, "error: what went wrong; do this"),
        (
            MissingCredentialsError(["OPENAI_API_KEY"]),
            1,
            "or run it offline against the fake provider with --offline",
        ),
        (BudgetExceeded("cost_usd", 0.01, 0.02, thread_id="t"), EXIT_BUDGET, "budget 'cost_usd' exceeded"),
        (RunCancelled("stop"), EXIT_CANCELLED, "error: run cancelled: stop"),
        (FileNotFoundError(2, "No such file or directory", "x.txt"), 1, "No such file or directory: 'x.txt'"),
        (
            ZeroDivisionError("division by zero"),
            1,
            "unexpected ZeroDivisionError: division by zero (rerun with --debug",
        ),
    ],
)
def test_errors_are_one_clear_line_with_an_exit_code(exc: BaseException, code: int, line: str) -> None:
    result = CliRunner().invoke(_app_raising(exc), ["boom"])
    assert result.exit_code == code
    assert line in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1


def test_debug_shows_the_traceback() -> None:
    result = CliRunner().invoke(_app_raising(ValueError("bad value")), ["--debug", "boom"])
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "error: unexpected ValueError: bad value" in result.stderr


def test_interrupt_exits_130() -> None:
    result = CliRunner().invoke(_app_raising(KeyboardInterrupt()), ["boom"])
    assert result.exit_code == 130 and "interrupted" in result.stderr


def test_json_helpers_render_messages_and_dataclasses() -> None:
    from langchain_core.messages import AIMessage, ToolMessage

    from thinkgraph.cli._approve import describe_interrupt, jsonable
    from thinkgraph.cli._live import short

    message = AIMessage("hi", tool_calls=[{"name": "f", "args": {"a": 1}, "id": "c1"}], name="bot")
    assert jsonable({"m": [message, ToolMessage("ok", tool_call_id="c1")]}) == {
        "m": [
            {"type": "ai", "content": "hi", "name": "bot", "tool_calls": [{"name": "f", "args": {"a": 1}}]},
            {"type": "tool", "content": "ok", "tool_call_id": "c1"},
        ]
    }
    assert jsonable(ModelSpec(model="openai/x"))["model"] == "openai/x"
    assert jsonable({1, 2}) in ([1, 2], [2, 1])
    assert jsonable(object()).startswith("<object")
    assert describe_interrupt({"type": "tool_approval", "tool": "refund", "args": {"a": 1}}) == (
        'approve tool call refund({"a": 1})?'
    )
    assert describe_interrupt("Which one?") == "Which one?"
    assert json.loads(describe_interrupt({"q": 1})) == {"q": 1}
    assert short("a  b\nc") == "a b c"
    assert short("x" * 200, 10) == "x" * 9 + "…"
    assert short({"k": [1]}) == '{"k": [1]}'
