"""Crash safety: graph runs killed with SIGKILL at random moments resume to the right state.

tests/memory/crash_graph.py runs in a child process: it forks one run per trial and kills it
with SIGKILL at a random moment of the run. A new process then resumes every thread and reads
back every checkpoint; each final state must equal an uninterrupted run's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

sys.path.insert(0, str(Path(__file__).parent))
import crash_graph

SCRIPT = Path(__file__).parent / "crash_graph.py"


def _run(*args: str) -> Any:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _check(url: str, trials: int, seed: int) -> None:
    outcomes: dict[str, str] = _run("crash", url, str(seed), str(trials))
    assert len(outcomes) == trials
    assert list(outcomes.values()).count("killed") >= trials // 2, outcomes
    report: dict[str, Any] = _run("resume", url, *outcomes)
    expected = dict(
        crash_graph.build(InMemorySaver()).invoke(crash_graph.INPUT, {"configurable": {"thread_id": "x"}})
    )
    saved = [report[thread]["checkpoints_before"] for thread in outcomes]
    print("checkpoints saved before each kill:", saved)
    # the kills landed at different moments of the runs, not all before or after them
    assert len(set(saved)) >= min(3, trials)
    for thread in outcomes:
        assert report[thread]["values"] == expected, (thread, report[thread])
        assert report[thread]["checkpoints"] >= crash_graph.NODES + 1


@pytest.mark.slow
def test_sqlite_runs_killed_at_random_points_resume_correctly(tmp_path: Path) -> None:
    _check(f"sqlite:///{tmp_path / 'crash.db'}", trials=24, seed=1)


@pytest.mark.slow
@pytest.mark.parametrize("server_db_url", ["postgresql"], indirect=True)
def test_postgres_runs_killed_at_random_points_resume_correctly(server_db_url: str) -> None:
    _check(server_db_url, trials=8, seed=2)
