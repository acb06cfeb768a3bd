"""Every example runs offline, end to end, through litellm's real HTTP path against the fake provider."""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
from typer.testing import CliRunner

from thinkgraph.cli import app
from thinkgraph.memory import Ledger

EXAMPLES = Path(__file__).parent.parent.parent / "examples"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py"))


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("THINKGRAPH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    for name in (
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "DEEPSEEK_API_KEY",
        "GEMINI_API_KEY",
        "MISTRAL_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    return f"sqlite:///{tmp_path / 'examples.db'}"


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_there_are_six_examples_each_saying_what_it_shows_and_how_to_run_it() -> None:
    assert SCRIPTS == [
        "data_analyst.py",
        "embed_in_service.py",
        "research_assistant.py",
        "resilient_pipeline.py",
        "support_triage.py",
    ]
    assert (EXAMPLES / "support_triage.yaml").is_file()
    for name in SCRIPTS:
        doc = ast.get_docstring(ast.parse((EXAMPLES / name).read_text(encoding="utf-8")))
        assert doc is not None and "What it shows" in doc, name
        assert "--offline" in doc and "live" in doc.lower(), name


def test_research_assistant_plans_in_parallel_and_the_critic_checks(db: str) -> None:
    question = "Are heat pumps a good choice in a cold climate, and what do they cost?"
    code, out, err = run(
        "run", str(EXAMPLES / "research_assistant.py"), question, "--offline", "--db", db, "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    output = result["output"]
    assert output["outcome"] == "finished" and output["review"]["supported"] == "yes"
    assert result["answer"].startswith("Yes, if it is sized for the coldest days")
    assert {k: v["status"] for k, v in output["results"].items()} == {
        "s1": "done",
        "s2": "done",
        "s3": "done",
    }
    assert "COP near 2 at -15 °C" in output["results"]["s1"]["output"]
    nodes = {n["node"]: n for n in result["summary"]["nodes"]}
    assert (
        nodes["planner"]["models"] == ["deepseek/deepseek-reasoner (deepseek)"]
        and nodes["planner"]["model_calls"] == 2
    )
    assert (
        nodes["executor"]["models"] == ["openai/gpt-4o-mini (openai)"]
        and nodes["executor"]["model_calls"] == 10
    )
    assert nodes["critic"]["models"] == ["anthropic/claude-sonnet-4-5 (anthropic)"]
    code, out, _ = run("history", result["thread_id"], "--db", db, "--json")
    reasoning = [line for step in json.loads(out) for line in step["reasoning"]]
    assert any("Cold performance and costs are separate questions" in line for line in reasoning)


@pytest.mark.parametrize(
    ("ticket", "node", "answer"),
    [
        ("T-1002", "technical", "Hold the button for 3 seconds"),
        ("T-1003", "billing", "Order A-2251 was charged twice"),
    ],
)
def test_support_triage_routes_by_intent(db: str, ticket: str, node: str, answer: str) -> None:
    code, out, err = run(
        "run", str(EXAMPLES / "support_triage.py"), ticket, "--offline", "--db", db, "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["answer"].startswith(answer)
    assert [n["node"] for n in result["summary"]["nodes"]] == ["triage", node]


def test_support_triage_yaml_is_the_same_graph_and_a_rejected_refund_is_reported(db: str) -> None:
    code, from_yaml, _ = run("graph", str(EXAMPLES / "support_triage.yaml"))
    code2, from_python, _ = run("graph", str(EXAMPLES / "support_triage.py"))
    assert code == code2 == 0 and from_yaml == from_python
    code, out, err = run(
        "run",
        str(EXAMPLES / "support_triage.yaml"),
        "T-1001",
        "--offline",
        "--db",
        db,
        "--no-input",
        "--json",
    )
    assert code == 3, err
    paused = json.loads(out)
    assert paused["interrupts"][0]["value"]["args"] == {
        "amount_eur": 180.0,
        "order_id": "A-2207",
        "reason": "item arrived damaged",
    }
    code, out, err = run(
        "resume", paused["thread_id"], "--db", db, "--reject", "send a photo first", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["answer"].startswith("I could not refund order A-2207")


def test_data_analyst_builds_its_database_from_sql() -> None:
    module = load("data_analyst")
    path = module.database_path()
    assert path.is_file() and path == module.database_path()
    import sqlite3

    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT COUNT(*) FROM orders").fetchone() == (12,)
    connection.close()


def test_resilient_pipeline_fails_over_and_the_ledger_shows_it(db: str) -> None:
    text = "Heat pumps move heat instead of making it; a COP of 3 means 3 kWh of heat per kWh."
    code, out, err = run("run", str(EXAMPLES / "resilient_pipeline.py"), text, "--offline", "--db", db)
    assert code == 0, err
    assert "summarize: fell over to anthropic/claude-haiku-4-5 [anthropic]" in out
    assert "translate: openai/gpt-4o-mini [openai] skipped (circuit open)" in out
    assert out.rstrip().endswith(
        "Eine Wärmepumpe bewegt Wärme und liefert etwa drei Einheiten Wärme pro Einheit Strom."
    )
    with Ledger(db) as ledger:
        calls = ledger.model_calls()
        by_provider = {row.provider: row for row in ledger.costs("provider")}
    assert [(c.node, c.model, c.attempts, c.fallback) for c in calls] == [
        ("extract", "openai/gpt-4o-mini", 2, False),
        ("summarize", "anthropic/claude-haiku-4-5", 4, True),
        ("translate", "anthropic/claude-haiku-4-5", 1, True),  # the open breaker skipped the primary
    ]
    assert by_provider["anthropic"].calls == 2 and by_provider["anthropic"].cost_usd > 0
    assert by_provider["openai"].calls == 1
    code, out, _ = run("costs", "--db", db, "--by", "provider", "--json")
    rows = {r["key"]: r for r in json.loads(out)}
    assert (rows["anthropic"]["calls"], rows["anthropic"]["fallbacks"], rows["anthropic"]["attempts"]) == (
        2,
        2,
        5,
    )
    assert (rows["openai"]["calls"], rows["openai"]["fallbacks"], rows["openai"]["attempts"]) == (1, 0, 2)


async def test_embedded_service_starts_runs_and_streams_their_events(tmp_path: Path) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from thinkgraph.testing import FakeProvider

    service = load("embed_in_service")
    async with FakeProvider() as fake:
        app_ = service.make_app(f"sqlite:///{tmp_path / 'service.db'}", fake=fake)
        async with TestClient(TestServer(app_)) as client:
            bad = await client.post("/runs", json={"nothing": 1})
            assert bad.status == 400
            started = await client.post("/runs", json={"input": "Heat pumps move heat.", "thread_id": "t-1"})
            assert started.status == 202
            assert await started.json() == {"thread_id": "t-1", "events": "/runs/t-1/events"}
            stream = await client.get("/runs/t-1/events")
            assert stream.headers["Content-Type"] == "text/event-stream"
            body = await stream.text()
            kinds = [line.removeprefix("event: ") for line in body.splitlines() if line.startswith("event: ")]
            assert kinds[0] == "node_started" and kinds[-1] == "run_finished"
            assert kinds.count("cost") == 3 and "token" in kinds
            final = json.loads(body.strip().splitlines()[-1].removeprefix("data: "))
            assert final["output"]["answer"].startswith("Eine Wärmepumpe")
            again = await client.get("/runs/t-1/events")  # a late subscriber replays the whole run
            assert (await again.text()) == body
            missing = await client.get("/runs/nope/events")
            assert missing.status == 404
            threads = await (await client.get("/threads")).json()
            assert threads[0]["thread_id"] == "t-1" and threads[0]["status"] == "succeeded"
