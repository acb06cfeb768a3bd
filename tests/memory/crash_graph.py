"""A small checkpointed graph for the crash test (run by tests/memory/test_crash.py, not by pytest).

Usage::

    python crash_graph.py crash URL SEED TRIALS  # fork a run per trial, SIGKILL it at a random moment
    python crash_graph.py resume URL THREAD…     # finish each thread; print JSON {thread: state, …}
    python crash_graph.py concurrent URL PREFIX N  # N runs at once (asyncio); print errors and results

``crash`` imports once, then forks one child per trial (so each run starts at once, without the
import cost); the child runs the graph on its own new engines and is killed with SIGKILL after a
random delay. It prints JSON {thread: "killed" | "finished"}. ``resume`` runs in a new process,
continues every thread (``invoke(None, config)``, or from the input when no checkpoint was saved)
and reads back every checkpoint of each thread, so a corrupt one fails the test.
"""

from __future__ import annotations

import asyncio
import json
import operator
import os
import random
import signal
import sys
import time
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph

from thinkgraph.memory import SQLCheckpointer

NODES = 8
MAX_DELAY = float(os.environ.get("CRASH_MAX_DELAY", "0"))  # 0: the duration of a timed run
INPUT: dict[str, Any] = {"items": ["start"], "total": 0}


class State(TypedDict):
    items: Annotated[list[str], operator.add]
    total: int


def _node(i: int) -> Any:
    def node(state: State) -> dict[str, Any]:
        time.sleep(0.002)
        return {"items": [f"node-{i}:" + "x" * 200], "total": state["total"] + i}

    return node


def build(checkpointer: Any) -> Any:
    """The graph: NODES nodes in a line, each appending to a list and adding to a total."""
    builder = StateGraph(State)
    previous = START
    for i in range(NODES):
        builder.add_node(f"n{i}", _node(i))
        builder.add_edge(previous, f"n{i}")
        previous = f"n{i}"
    builder.add_edge(previous, END)
    return builder.compile(checkpointer=checkpointer)


def _config(thread: str) -> Any:
    return {"configurable": {"thread_id": thread}}


def timed_run(url: str) -> float:
    """Seconds one uninterrupted run takes (to choose the kill delays)."""
    with SQLCheckpointer(url) as saver:
        graph = build(saver)
        graph.invoke(INPUT, _config("warm-up"))
        start = time.perf_counter()
        graph.invoke(INPUT, _config("timed"))
        return time.perf_counter() - start


def crash(url: str, seed: int, trials: int) -> None:
    # migrate once, and time an uninterrupted run so the kills spread over a whole run
    # (engines are closed before forking: every child opens its own)
    duration = MAX_DELAY or timed_run(url)
    rng = random.Random(seed)
    outcomes: dict[str, str] = {}
    for trial in range(trials):
        thread = f"crash-{seed}-{trial}"
        delay = rng.uniform(0.0, 0.7 * duration)
        ready_r, ready_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: its own engines, created after the fork
            os.close(ready_r)
            code = 0
            try:
                saver = SQLCheckpointer(url)
                saver.setup()
                graph = build(saver)
                graph.invoke(INPUT, _config(f"warm-{thread}"))  # first-run costs paid before the kill
                os.write(ready_w, b"r")
                graph.invoke(INPUT, _config(thread))
            except BaseException:
                code = 1
            os._exit(code)
        os.close(ready_w)
        os.read(ready_r, 1)  # the kill lands during the run, not during start-up
        os.close(ready_r)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        outcomes[thread] = "killed" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}"
    print(json.dumps(outcomes))


def concurrent(url: str, prefix: str, runs: int) -> None:
    """Run ``runs`` graph runs at once on one event loop; print JSON {"errors": [...], "values": ...}."""

    async def main() -> dict[str, Any]:
        saver = SQLCheckpointer(url)
        await saver.asetup()
        graph = build(saver)
        results = await asyncio.gather(
            *(graph.ainvoke(INPUT, _config(f"{prefix}-{i}")) for i in range(runs)), return_exceptions=True
        )
        await saver.aclose()
        errors = [repr(r) for r in results if isinstance(r, BaseException)]
        return {"errors": errors, "values": [r for r in results if not isinstance(r, BaseException)]}

    print(json.dumps(asyncio.run(main())))


def resume(url: str, threads: list[str]) -> None:
    saver = SQLCheckpointer(url)
    graph = build(saver)
    report: dict[str, Any] = {}
    for thread in threads:
        before = len(list(saver.list(_config(thread))))
        # with no checkpoint the run starts over; otherwise it continues from the latest one (whose
        # tasks may all have saved their writes already: ``state.next`` is then empty, yet the
        # writes still have to be applied)
        graph.invoke(INPUT if before == 0 else None, _config(thread))
        tuples = list(saver.list(_config(thread)))
        for tup in tuples:  # every checkpoint deserializes and reads back by id
            again = saver.get_tuple(tup.config)
            assert again is not None and again.checkpoint["id"] == tup.checkpoint["id"]
        report[thread] = {
            "values": graph.get_state(_config(thread)).values,
            "checkpoints_before": before,
            "checkpoints": len(tuples),
        }
    saver.close()
    print(json.dumps(report))


if __name__ == "__main__":
    mode, url, *threads = sys.argv[1:]
    if mode == "concurrent":
        concurrent(url, threads[0], int(threads[1]))
    elif mode == "time":
        print(timed_run(url))
    elif mode == "crash":
        crash(url, int(threads[0]), int(threads[1]))
    else:
        resume(url, threads)
