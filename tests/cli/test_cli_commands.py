"""Every command, in process: run (offline, JSON, approvals, pauses), resume, threads, history, costs,
graph, db upgrade, models check, and their errors."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from thinkgraph.cli import app
from thinkgraph.cli._errors import EXIT_PAUSED

HERE = Path(__file__).parent
GRAPHS = str(HERE / "cli_graphs.py")
APPROVALS = f"{GRAPHS}:approval_graph"
EXAMPLES = HERE.parent.parent / "examples"
APPROVAL_SCRIPT = f"{GRAPHS}:APPROVAL_SCRIPT"


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def db(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", "200")  # wide tables: assertions see whole cells
    return f"sqlite:///{tmp_path / 'runs.db'}"


def test_offline_run_shows_nodes_providers_fallbacks_and_a_summary(db: str) -> None:
    code, out, err = invoke("run", GRAPHS, "Write a haiku.", "--offline", "--db", db)
    assert code == 0, err
    assert f"database: {db}" in err
    assert "OFFLINE" in out and "fake provider" in out
    assert "▶ draft started" in out and "✓ review finished" in out
    assert "openai/gpt-4o-mini [openai] ProviderUnavailableError" in out
    assert "draft answered by anthropic/claude-haiku-4-5 [anthropic] (fallback)" in out
    assert "review reasoning (deepseek/deepseek-chat): I compared the draft with the request." in out
    assert "summary (offline)" in out and "(1 fallback)" in out
    assert out.rstrip().endswith("The draft is fine.")
    assert "thread: " in err


def test_json_run_then_threads_history_and_costs_show_it(db: str) -> None:
    code, out, err = invoke(
        "run", GRAPHS, "--input-file", "-", "--offline", "--db", db, "--json", stdin="Hello"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "finished" and result["offline"] is True
    assert result["answer"] == "The draft is fine."
    assert [m["type"] for m in result["output"]["messages"]] == ["human", "ai", "ai"]
    nodes = {n["node"]: n for n in result["summary"]["nodes"]}
    assert nodes["draft"]["fallbacks"] == 1 and nodes["review"]["models"] == [
        "deepseek/deepseek-chat (deepseek)"
    ]
    assert result["summary"]["model_calls"] == 2 and result["summary"]["cost_usd"] > 0
    assert result["ledger"]["total"]["calls"] == 2
    thread = result["thread_id"]

    code, out, _ = invoke("threads", "--db", db, "--json")
    assert code == 0
    [row] = json.loads(out)
    assert row["thread_id"] == thread and row["status"] == "succeeded" and row["model_calls"] == 2
    code, out, _ = invoke("threads", "--db", db)
    assert thread in out and "two_step" in out

    code, out, _ = invoke("history", thread, "--db", db, "--json")
    assert code == 0
    steps = json.loads(out)
    assert [s["nodes"] for s in steps] == [[], ["input"], ["draft"], ["review"]]
    assert [s["next"] for s in steps][1:] == [["draft"], ["review"], []]
    assert steps[2]["calls"] == [
        "draft: anthropic/claude-haiku-4-5 (fallback from openai/gpt-4o-mini, 2 attempts)"
    ]
    assert steps[3]["reasoning"] == ["deepseek/deepseek-chat: I compared the draft with the request."]
    assert steps[3]["cost_usd"] > 0 and steps[2]["model_calls"] == 1
    code, out, _ = invoke("history", thread, "--db", db)
    assert "fallback from" in out and "compared" in out and "anthropic/claude-haiku-4-5" in out

    code, out, _ = invoke("costs", "--db", db, "--by", "provider", "--json")
    by_provider = {r["key"]: r for r in json.loads(out)}
    assert set(by_provider) == {"anthropic", "deepseek"} and by_provider["deepseek"]["reasoning_tokens"] > 0
    code, out, _ = invoke("costs", "--db", db, "--by", "node", "--since", "1h", "--thread", thread)
    assert "draft" in out and "review" in out and "total" in out
    code, out, _ = invoke("costs", "--db", db, "--since", "2000-01-01", "--until", "2000-01-02")
    assert "no model calls recorded in that period" in out
    code, out, _ = invoke("costs", "--db", db, "--by", "model")
    assert "claude-haiku-4-5" in out


def test_approval_at_the_terminal_approve_edit_and_reject(db: str) -> None:
    args = ("run", APPROVALS, "refund A-1", "--offline", "--offline-script", APPROVAL_SCRIPT, "--db", db)
    code, out, err = invoke(*args, stdin="a\n")
    assert code == 0, err
    assert "approve tool call refund" in err and "refunded 12.50 EUR on A-1" in out
    code, out, err = invoke(*args, stdin='e\n{"order_id": "A-1", "amount": 3}\n')
    assert code == 0, err
    assert "refunded 3.00 EUR on A-1" in out
    code, out, err = invoke(*args, stdin="x\nr\nnot this one\n")
    assert code == 0, err
    assert "please answer a, r or e" in err
    assert "a human rejected this call of 'refund': not this one" in out


def test_pause_without_input_then_resume_in_a_new_process(db: str) -> None:
    code, out, err = invoke(
        "run",
        APPROVALS,
        "refund A-1",
        "--offline",
        "--offline-script",
        APPROVAL_SCRIPT,
        "--db",
        db,
        "--json",
        "--no-input",
    )
    assert code == EXIT_PAUSED
    paused = json.loads(out)
    thread = paused["thread_id"]
    assert paused["status"] == "paused"
    assert paused["interrupts"][0]["value"]["tool"] == "refund"
    assert paused["output"]["messages"][-1]["tool_calls"] == [
        {"name": "refund", "args": {"amount": 12.5, "order_id": "A-1"}}
    ]
    assert paused["resume"] == f"thinkgraph resume {thread} --db '{db}'"
    assert f"resume it with: thinkgraph resume {thread}" in err

    code, _, err = invoke("resume", thread, "--db", db, "--no-input")
    assert code == EXIT_PAUSED and "waits for a decision" in err
    code, out, err = invoke("resume", thread, "--db", db, "--approve", "--json")
    assert code == 0, err
    resumed = json.loads(out)
    assert resumed["status"] == "finished" and resumed["offline"] is True
    assert resumed["answer"] == "Done: the refund went through."  # the script continued where it paused
    code, out, _ = invoke("history", thread, "--db", db, "--json")
    assert [s["nodes"] for s in json.loads(out)][-2:] == [["tools"], ["agent"]]


def test_resume_with_reject_or_answer_and_flag_errors(db: str) -> None:
    base = (
        "run",
        APPROVALS,
        "refund A-1",
        "--offline",
        "--offline-script",
        APPROVAL_SCRIPT,
        "--db",
        db,
        "--no-input",
    )
    code, _, err = invoke(*base)
    thread = err.split("thinkgraph resume ")[1].split()[0]
    code, _, err = invoke("resume", thread, "--db", db, "--approve", "--reject", "no")
    assert code == 1 and "at most one of" in err
    code, out, err = invoke("resume", thread, "--db", db, "--reject", "too much")
    assert code == 0, err
    assert "rejected this call of 'refund': too much" in out
    code, _, err = invoke(*base)
    thread = err.split("thinkgraph resume ")[1].split()[0]
    code, out, err = invoke(
        "resume", thread, "--db", db, "--answer", '{"action": "approve"}', "--target", APPROVALS
    )
    assert code == 0, err
    code, _, err = invoke("resume", "no-such-thread", "--db", db)
    assert code == 1 and "thread 'no-such-thread' does not exist in" in err


def test_input_on_stdin_means_no_answers_so_the_run_pauses(db: str) -> None:
    code, _, err = invoke(
        "run", APPROVALS, "--offline", "--offline-script", APPROVAL_SCRIPT, "--db", db, stdin="refund A-1"
    )
    assert code == EXIT_PAUSED and "resume it with" in err


def test_missing_credentials_fail_before_any_call_and_suggest_offline(db: str) -> None:
    code, _, err = invoke("run", GRAPHS, "hi", "--db", db)
    assert code == 1
    assert err.splitlines()[-1] == (
        "error: missing credentials: set OPENAI_API_KEY, ANTHROPIC_API_KEY, DEEPSEEK_API_KEY or run it "
        "offline against the fake provider with --offline (nodes: draft, review)"
    )
    assert "Traceback" not in err


def test_model_overrides_replace_node_models(db: str) -> None:
    code, out, err = invoke(
        "run", GRAPHS, "hi", "--offline", "--db", db, "-m", "review=openai/gpt-4.1-mini", "--json"
    )
    assert code == 0, err
    nodes = {n["node"]: n for n in json.loads(out)["summary"]["nodes"]}
    assert nodes["review"]["models"] == ["openai/gpt-4.1-mini (openai)"]
    code, _, err = invoke("run", GRAPHS, "hi", "--offline", "--db", db, "-m", "ghost=openai/gpt-4o")
    assert code == 1 and "does not have" in err
    code, _, err = invoke("run", GRAPHS, "hi", "--offline", "--db", db, "--budget", "0")
    assert code == 1 and "--budget must be a positive amount" in err


def test_budget_stop_is_resumable(db: str) -> None:
    code, _, err = invoke("run", GRAPHS, "hi", "--offline", "--db", db, "--budget", "0.0000001")
    assert code == 4
    assert "budget 'cost_usd' exceeded" in err and "resume the thread with a higher budget" in err
    code, out, err = invoke("threads", "--db", db, "--json")
    assert code == 0, err
    thread = json.loads(out)[0]["thread_id"]
    # The thread remembers its target and that it ran offline: a higher budget is all it takes.
    code, out, err = invoke("resume", thread, "--db", db, "--budget", "5", "--json")
    assert code == 0, err
    assert json.loads(out)["thread_id"] == thread


def test_models_check_names_variables_never_values(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = invoke("models", "check", GRAPHS, "--json")
    assert code == 1
    report = json.loads(out)
    assert report["missing"] == ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "DEEPSEEK_API_KEY"]
    assert {(r["node"], r["model"]) for r in report["nodes"]} == {
        ("draft", "openai/gpt-4o-mini"),
        ("draft", "anthropic/claude-haiku-4-5"),
        ("review", "deepseek/deepseek-chat"),
    }
    assert "--offline" in err
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "DEEPSEEK_API_KEY"):
        monkeypatch.setenv(name, f"sk-secret-{name.lower()}")
    code, out, _ = invoke("models", "check", GRAPHS)
    assert code == 0 and "secret" not in out and "set" in out
    code, out, _ = invoke("models", "check", GRAPHS, "-m", "*=ollama_chat/llama3.1")
    assert code == 0 and "none needed (local)" in out


def test_graph_prints_mermaid_or_dot_and_renders_png_with_local_dot(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = invoke("graph", APPROVALS)
    assert code == 0 and "graph TD;" in out and "agent -.-> tools" in out
    code, out, _ = invoke("graph", APPROVALS, "--dot")
    assert out.startswith('digraph "approval_graph" {')
    code, out, _ = invoke("graph", GRAPHS, "--xray")
    assert "draft --> review" in out
    # nested nodes: LangGraph escapes ':' in their ids, the node definitions give their names
    code, out, _ = invoke("graph", str(EXAMPLES / "research_assistant.py"), "--xray")
    assert code == 0 and "research\\3aplanner(planner)" in out
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_dot = bin_dir / "dot"
    fake_dot.write_text(
        f"#!{sys.executable}\nimport sys\nsrc = sys.stdin.read()\n"
        "open(sys.argv[sys.argv.index('-o') + 1], 'w').write('PNG of ' + src)\n"
    )
    fake_dot.chmod(fake_dot.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(bin_dir))
    png = tmp_path / "graph.png"
    code, _, err = invoke("graph", APPROVALS, "--png", str(png))
    assert code == 0, err
    assert png.read_text().startswith('PNG of digraph "approval_graph"') and f"wrote {png}" in err
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    code, _, err = invoke("graph", APPROVALS, "--png", str(png))
    assert code == 1 and "Graphviz 'dot' is not installed" in err


def test_db_upgrade_on_every_dialect(shared_db_url: str, home: Path) -> None:
    code, out, err = invoke("db", "upgrade", "--db", shared_db_url)
    assert code == 0, err
    assert out.startswith("schema upgraded from empty to revision ")
    code, out, _ = invoke("db", "upgrade", "--db", shared_db_url)
    assert out.startswith("schema already at revision ")
    assert "database: " in err and "***" not in shared_db_url


def test_reading_commands_on_an_empty_database(db: str) -> None:
    code, out, _ = invoke("threads", "--db", db)
    assert code == 0 and "no threads in" in out
    code, _, err = invoke("history", "nope", "--db", db)
    assert code == 1 and "has no checkpoints" in err
    code, out, _ = invoke("costs", "--db", db, "--json")
    assert code == 0 and json.loads(out) == []
    code, _, err = invoke("costs", "--db", db, "--by", "colour")
    assert code == 2 or (code == 1 and "is not a grouping" in err)
    code, _, err = invoke("costs", "--db", db, "--since", "yesterday")
    assert code == 1 and "is not a date" in err
    code, _, err = invoke("costs", "--db", db, "--since", "1d", "--until", "2d")
    assert code == 1 and "is not before" in err


def test_default_database_is_the_settings_one(home: Path) -> None:
    code, _, err = invoke("threads")
    assert code == 0 and f"database: sqlite:///{home / 'thinkgraph.db'}" in err


def test_errors_are_one_line_with_debug_for_the_traceback(db: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("def build_graph():\n    raise RuntimeError('the graph could not be built')\n")
    code, _, err = invoke("run", str(broken), "hi", "--db", db)
    assert code == 1
    assert err.splitlines()[-1] == (
        "error: unexpected RuntimeError: the graph could not be built "
        "(rerun with --debug to see the traceback)"
    )
    code, _, err = invoke("--debug", "run", str(broken), "hi", "--db", db)
    assert code == 1 and "Traceback (most recent call last)" in err
    code, _, err = invoke("run", "nope.py", "hi")
    assert code == 1 and "error: Python file 'nope.py' does not exist" in err
    code, _, err = invoke("run", GRAPHS, "hi", "--db", "nonsense")
    assert code == 1 and "is not a database URL" in err


def test_a_live_run_against_a_local_openai_compatible_server(db: str) -> None:
    from thinkgraph.testing import FakeProvider, Reply

    with FakeProvider() as server:  # stands in for vLLM on this machine: no key needed
        server.script("vllm", Reply(text="local draft"), Reply(text="local review"))
        spec = json.dumps({"model": "hosted_vllm/qwen", "api_base": server.api_base("vllm", "hosted_vllm")})
        code, out, err = invoke("run", GRAPHS, "hi", "--db", db, "-m", f"*={spec}", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["offline"] is False and result["answer"] == "local review"
    assert {n["node"]: n["models"] for n in result["summary"]["nodes"]} == {
        "draft": ["hosted_vllm/qwen (hosted_vllm)"],
        "review": ["hosted_vllm/qwen (hosted_vllm)"],
    }


def test_an_unscripted_graph_runs_offline_on_default_replies(db: str, tmp_path: Path) -> None:
    plain = tmp_path / "plain.py"
    plain.write_text(
        "from cli_graphs import State, draft\n"
        "from thinkgraph.graphs import END, START, Graph\n"
        "def build_graph():\n"
        "    graph = Graph(State, name='plain')\n"
        "    graph.add_node('echo', draft)\n"
        "    graph.add_edge(START, 'echo')\n"
        "    graph.add_edge('echo', END)\n"
        "    return graph\n"
    )
    sys.path.insert(0, str(HERE))
    try:
        code, out, err = invoke("run", str(plain), "ping", "--offline", "--db", db)
    finally:
        sys.path.remove(str(HERE))
    assert code == 0, err
    assert "ships no offline script" in out and out.rstrip().endswith("echo: ping")


def test_resume_of_a_thread_the_cli_did_not_start_needs_a_target(db: str) -> None:
    from thinkgraph.memory import SQLStore

    code, out, _ = invoke("run", GRAPHS, "hi", "--offline", "--db", db, "--json")
    thread = json.loads(out)["thread_id"]
    with SQLStore(db) as store:
        store.delete(("thinkgraph", "cli", "threads"), thread)
    code, _, err = invoke("resume", thread, "--db", db)
    assert code == 1 and "has no record of the graph it ran; pass it with --target" in err
    code, out, err = invoke("resume", thread, "--db", db, "--target", GRAPHS, "--offline", "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "finished"


def test_pause_and_resume_on_postgresql_and_mariadb(server_db_url: str, home: Path) -> None:
    args = ("run", APPROVALS, "refund A-1", "--offline", "--offline-script", APPROVAL_SCRIPT, "--no-input")
    code, out, err = invoke(*args, "--db", server_db_url, "--json")
    assert code == EXIT_PAUSED, err
    thread = json.loads(out)["thread_id"]
    code, out, err = invoke("resume", thread, "--db", server_db_url, "--approve", "--json")
    assert code == 0, err
    assert json.loads(out)["answer"] == "Done: the refund went through."
    code, out, _ = invoke("history", thread, "--db", server_db_url, "--json")
    assert [s["nodes"] for s in json.loads(out)][-3:] == [["agent"], ["tools"], ["agent"]]
    code, out, _ = invoke("threads", "--db", server_db_url, "--json")
    assert [(t["thread_id"], t["runs"], t["status"]) for t in json.loads(out)] == [(thread, 2, "succeeded")]


def test_a_second_run_on_the_same_thread_continues_the_conversation(db: str) -> None:
    code, out, err = invoke("run", GRAPHS, "first", "--offline", "--db", db, "--thread", "conv", "--json")
    assert code == 0, err
    code, out, err = invoke("run", GRAPHS, "second", "--offline", "--db", db, "--thread", "conv", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["thread_id"] == "conv"
    humans = [m["content"] for m in result["output"]["messages"] if m["type"] == "human"]
    assert humans == ["first", "second"]
