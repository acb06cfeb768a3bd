"""Several processes writing one SQLite file at once: no error, no lost checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).parent))
import crash_graph

from thinkgraph.memory import SQLCheckpointer
from thinkgraph.memory._schema import checkpoints

SCRIPT = Path(__file__).parent / "crash_graph.py"
PROCESSES, RUNS = 4, 25


@pytest.mark.slow
def test_four_processes_of_25_concurrent_runs_on_one_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    reference = crash_graph.build(InMemorySaver())
    expected = dict(reference.invoke(crash_graph.INPUT, {"configurable": {"thread_id": "ref"}}))
    per_run = len(list(reference.get_state_history({"configurable": {"thread_id": "ref"}})))
    procs = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), "concurrent", url, f"p{n}", str(RUNS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(PROCESSES)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        result = json.loads(out.strip().splitlines()[-1])
        assert result["errors"] == []
        assert result["values"] == [expected] * RUNS
    with SQLCheckpointer(url) as saver:
        with saver.engines.read() as conn:
            total = conn.execute(select(func.count()).select_from(checkpoints)).scalar_one()
            threads = conn.execute(select(func.count(checkpoints.c.thread_id.distinct()))).scalar_one()
        assert (threads, total) == (PROCESSES * RUNS, PROCESSES * RUNS * per_run)
        for n in range(PROCESSES):
            for i in range(RUNS):
                history = list(saver.list({"configurable": {"thread_id": f"p{n}-{i}"}}))
                assert len(history) == per_run
                assert history[0].checkpoint["channel_values"]["total"] == expected["total"]
