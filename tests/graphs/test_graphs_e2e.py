"""End to end: four nodes on four provider families served by FakeProvider through litellm over
HTTP, on SQLite, PostgreSQL and MariaDB; killed with SIGKILL mid-run, resumed in a new process;
the ledger shows per-node providers, the fallback and costs that add up; the YAML twin matches."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tg_graphs_support import FAKE_KEY_ENV, build, yaml_text

from thinkgraph.graphs import load_graph
from thinkgraph.memory import Ledger, SQLCheckpointer
from thinkgraph.testing import FakeProvider, Fault, Reply

HERE = Path(__file__).parent
EXPECTED_PROVIDERS = {
    "plan": "anthropic",
    "research": "anthropic",
    "review": "gemini",
    "write": "ollama_chat",
}


def _script(fake: FakeProvider, *, hang_review: bool) -> None:
    fake.reset()
    fake.script("plan", Fault.server_error())  # the primary fails: plan falls back to Anthropic
    if hang_review:
        fake.script("review", Reply(text="never sent", latency=120))


def _child(command: str, thread: str, url: str, db_url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "THINKGRAPH_DATABASE_URL": db_url, FAKE_KEY_ENV: "sk-test-not-a-secret"}
    env.pop("THINKGRAPH_CONFIG", None)
    return subprocess.Popen(
        [sys.executable, str(HERE / "tg_graphs_support.py"), command, thread, url],
        env=env,
        cwd=str(HERE),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _latest_versions_seen(saver: SQLCheckpointer, thread: str) -> dict[str, object]:
    latest = saver.get_tuple({"configurable": {"thread_id": thread, "checkpoint_ns": ""}})
    return {} if latest is None else dict(latest.checkpoint["versions_seen"])


@pytest.mark.slow
def test_killed_mid_run_resumes_in_a_new_process(fake: FakeProvider, shared_db_url: str) -> None:
    _script(fake, hang_review=True)
    first = _child("run", "crash-1", fake.url, shared_db_url)
    deadline = time.monotonic() + 60
    while not fake.requests_for("review"):  # the run is inside its third node
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the child never reached the review node"
        time.sleep(0.05)
    # LangGraph saves a step's checkpoint in the background while the next step runs: kill only
    # once the checkpoint after research is saved, so the resume must not repeat plan or research
    with SQLCheckpointer(shared_db_url) as saver:
        while "research" not in _latest_versions_seen(saver, "crash-1"):
            assert time.monotonic() < deadline, "the checkpoint after research was never saved"
            time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL

    second = _child("resume", "crash-1", fake.url, shared_db_url)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    status, run_id, log = out.strip().splitlines()[-1].split(" ", 3)[1:]
    assert status == "completed"
    entries = log.split("|")
    assert [e.split("=", 1)[0] for e in entries] == ["plan", "research", "review", "write"]
    assert entries[2] == "review=echo: review 2"
    # plan and research ran once, before the crash: the resume did not repeat them
    assert len(fake.requests_for("plan")) == 1 and len(fake.requests_for("plan-fallback")) == 1
    assert len(fake.requests_for("research")) == 1
    assert len(fake.requests_for("review")) == 2

    ledger = Ledger(shared_db_url)
    try:
        runs = {r.run_id: r for r in ledger.runs(thread_id="crash-1")}
        assert len(runs) == 2
        assert runs[run_id].status == "succeeded"
        killed = next(r for r in runs.values() if r.run_id != run_id)
        assert killed.status == "running"  # it never got to finish
        calls = ledger.model_calls(thread_id="crash-1")
        assert {c.node: c.provider for c in calls} == EXPECTED_PROVIDERS
        plan_call = next(c for c in calls if c.node == "plan")
        assert plan_call.fallback and plan_call.attempts == 2
        assert plan_call.requested_model == "openai/gpt-4o-mini"
        assert plan_call.model == "anthropic/claude-3-5-haiku-20241022"
        assert not any(c.fallback for c in calls if c.node != "plan")
        assert all(c.cost_usd is not None and c.cost_usd > 0 for c in calls)
        for rid in runs:
            summary = ledger.run_summary(rid)
            mine = [c for c in calls if c.run_id == rid]
            assert summary.total.calls == len(mine)
            assert math.isclose(summary.total.cost_usd, sum(c.cost_usd or 0 for c in mine), rel_tol=1e-9)
            assert math.isclose(
                summary.total.cost_usd, sum(row.cost_usd for row in summary.by_node), rel_tol=1e-9
            )
            assert math.isclose(
                summary.total.cost_usd, sum(row.cost_usd for row in summary.by_provider), rel_tol=1e-9
            )
            assert not summary.unpriced
        assert {row.node for row in ledger.run_summary(run_id).by_node} == {"review", "write"}
    finally:
        ledger.close()


async def test_yaml_twin_has_the_same_structure_and_result(fake: FakeProvider, tmp_path: Path) -> None:
    path = tmp_path / "e2e.yaml"
    path.write_text(yaml_text(fake.url), encoding="utf-8")
    python_app = build(fake.url).compile(memory=True)
    yaml_app = load_graph(path, memory=True)
    assert yaml_app.get_graph().draw_mermaid() == python_app.get_graph().draw_mermaid()

    outputs = []
    for app in (python_app, yaml_app):
        _script(fake, hang_review=False)
        result = await app.arun({"topic": "tides", "log": []}, thread_id="same")
        assert result.status == "completed"
        outputs.append(result.output)
        providers = {row.node: row for row in result.summary.by_node}
        assert set(providers) == set(EXPECTED_PROVIDERS)
    assert outputs[0] == outputs[1]
    assert outputs[0]["log"][0] == "plan=echo: plan tides"
