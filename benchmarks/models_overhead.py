"""What thinkgraph's ChatModel costs on top of a bare ``litellm.acompletion`` call.

Everything runs offline against :class:`thinkgraph.testing.FakeProvider` (a real HTTP server on
loopback, run in a child process so its CPU time is not counted as the client's) with a fixed
answer latency. Three measurements:

1. **Overhead ratio** at 50 ms provider latency: median wall time of ``ChatModel.ainvoke`` over the
   median of the same request made with bare ``litellm.acompletion`` (runs interleaved). Because
   wall time on a shared machine is noisy, the client CPU time per call (``time.process_time``) is
   measured too, and the ratio an idle machine would see, ``(latency + cpu_tg) / (latency +
   cpu_bare)``, is reported beside the measured one. Target: <= 1.05.
2. **Dead primary, breaker open**: a chain whose primary is down and whose circuit breaker is
   already open, against the live model called directly; the difference of medians (and of CPU
   time) is the time lost per call to the dead primary. Target: < 1 ms.
3. **Concurrency**: N calls (default 500) started together through one shared ChatModel, and the
   same with bare litellm; wall time compared with the fake's latency (target: within 1.3x).

Run it from the repository root::

    .venv/bin/python benchmarks/models_overhead.py            # full run (a minute or two)
    .venv/bin/python benchmarks/models_overhead.py --quick    # smaller samples

It prints a Markdown table (the "## models_overhead" section of benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from multiprocessing.connection import Connection
from typing import Any

MODEL = "openai/gpt-4o-mini"
KEY_ENV = "THINKGRAPH_BENCH_FAKE_KEY"
MESSAGES = [{"role": "user", "content": "Say hello in five words."}]


def _serve(conn: Connection) -> None:
    """Child process: run a FakeProvider and obey ``(command, argument)`` messages."""
    from thinkgraph.testing import FakeProvider, Fault

    with FakeProvider() as fake:
        fake.set_default("dead", Fault.unavailable())
        conn.send(fake.url)
        while True:
            command, argument = conn.recv()
            if command == "latency":
                fake.latency = float(argument)
                conn.send(None)
            elif command == "count":
                conn.send(len(fake.requests_for(str(argument))))
            else:
                conn.send(None)
                return


class Server:
    """The FakeProvider in a child process."""

    def __init__(self) -> None:
        self._conn, child = multiprocessing.Pipe()
        self._process = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(child,), daemon=True
        )
        self._process.start()
        self.url: str = self._conn.recv()

    def ask(self, command: str, argument: object = None) -> Any:
        self._conn.send((command, argument))
        return self._conn.recv()

    def api_base(self, deployment: str) -> str:
        return f"{self.url}/d/{deployment}/v1"

    def close(self) -> None:
        self.ask("stop")
        self._process.join(timeout=30)


def _spec(server: Server, deployment: str, **kwargs: Any) -> Any:
    from thinkgraph.models import ModelSpec

    return ModelSpec(
        model=MODEL, api_base=server.api_base(deployment), api_key_env=KEY_ENV, max_retries=0, **kwargs
    )


async def _timed(fn: Callable[[], Awaitable[Any]], runs: int) -> tuple[list[float], list[float]]:
    wall, cpu = [], []
    for _ in range(runs):
        w0, c0 = time.perf_counter(), time.process_time()
        await fn()
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
    return wall, cpu


async def _interleaved(
    fns: dict[str, Callable[[], Awaitable[Any]]], rounds: int, per_round: int
) -> dict[str, tuple[float, float]]:
    """Median (wall ms, cpu ms) per function, the functions taking turns."""
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            w, c = await _timed(fn, per_round)
            wall[name] += w
            cpu[name] += c
    return {name: (statistics.median(wall[name]), statistics.mean(cpu[name])) for name in fns}


def _bare(server: Server, deployment: str, timeout: float = 60.0) -> Callable[[], Awaitable[Any]]:
    from thinkgraph._litellm import load_litellm

    litellm = load_litellm()
    base = server.api_base(deployment)

    async def call() -> Any:
        return await litellm.acompletion(
            model=MODEL,
            messages=MESSAGES,
            api_base=base,
            api_key=os.environ[KEY_ENV],
            timeout=timeout,
            num_retries=0,
            max_retries=0,
        )

    return call


async def overhead(server: Server, latency: float, rounds: int) -> dict[str, float]:
    from thinkgraph.models import ChatModel

    server.ask("latency", latency)
    model = ChatModel(_spec(server, "main"))
    bare = _bare(server, "main")

    async def ours() -> Any:
        return await model.ainvoke(MESSAGES[0]["content"])

    for _ in range(3):
        await bare()
        await ours()
    medians = await _interleaved({"bare": bare, "thinkgraph": ours}, rounds, 10)
    (bare_wall, bare_cpu), (tg_wall, tg_cpu) = medians["bare"], medians["thinkgraph"]
    ms = latency * 1000
    return {
        "bare_wall": bare_wall,
        "tg_wall": tg_wall,
        "bare_cpu": bare_cpu,
        "tg_cpu": tg_cpu,
        "ratio": tg_wall / bare_wall,
        "idle_ratio": (ms + tg_cpu) / (ms + bare_cpu),
    }


async def dead_primary(server: Server, rounds: int) -> dict[str, float]:
    from thinkgraph.models import BreakerRegistry, ChatModel, RetryPolicy, call_info_of

    server.ask("latency", 0.0)
    chain = ChatModel(
        _spec(server, "dead"),
        fallbacks=[_spec(server, "live")],
        retry=RetryPolicy(base=0.001, cap=0.001),
        breakers=BreakerRegistry(threshold=1, cooldown=3600),
    )
    direct = ChatModel(_spec(server, "live"))
    first = await chain.ainvoke("open the breaker")
    assert call_info_of(first)["fallback"]  # type: ignore[index]
    dead_requests = server.ask("count", "dead")

    async def via_chain() -> Any:
        reply = await chain.ainvoke("hi")
        assert call_info_of(reply)["attempts"][0]["skipped"]  # type: ignore[index]

    async def via_direct() -> Any:
        return await direct.ainvoke("hi")

    for _ in range(3):
        await via_direct()
        await via_chain()
    medians = await _interleaved({"direct": via_direct, "chain": via_chain}, rounds, 10)
    assert server.ask("count", "dead") == dead_requests, "an open breaker must not call the dead model"
    return {
        "direct_wall": medians["direct"][0],
        "chain_wall": medians["chain"][0],
        "lost_wall": medians["chain"][0] - medians["direct"][0],
        "lost_cpu": medians["chain"][1] - medians["direct"][1],
    }


async def concurrency(server: Server, latency: float, calls: int) -> dict[str, float]:
    from thinkgraph.models import ChatModel

    server.ask("latency", latency)
    timeout = max(60.0, latency * 20)
    model = ChatModel(_spec(server, "many", timeout=timeout))
    bare = _bare(server, "many", timeout)
    results: dict[str, float] = {}
    for name, fn in (("bare", bare), ("thinkgraph", lambda: model.ainvoke("hi"))):
        started = time.perf_counter()
        await asyncio.gather(*(fn() for _ in range(calls)))
        results[name] = time.perf_counter() - started
    return results


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller samples")
    parser.add_argument("--latency", type=float, default=0.05, help="fake latency for the overhead ratio (s)")
    parser.add_argument("--calls", type=int, default=500, help="concurrent calls")
    parser.add_argument("--concurrency-latency", type=float, default=2.0, help="fake latency of that run (s)")
    args = parser.parse_args(argv)
    os.environ.setdefault(KEY_ENV, "sk-bench-not-a-secret")
    rounds = 3 if args.quick else 8
    server = Server()
    try:
        ratio = await overhead(server, args.latency, rounds)
        dead = await dead_primary(server, rounds)
        many = await concurrency(server, args.concurrency_latency, args.calls)
    finally:
        server.close()
    load = os.getloadavg()[0]
    print(
        f"cores: {os.cpu_count()}; load average at the end: {load:.1f}; python {sys.version.split()[0]}; ",
        end="",
    )
    print(f"litellm {version('litellm')}; langchain-core {version('langchain-core')}")
    print()
    print("| measurement | bare litellm | thinkgraph | result | target |")
    print("|---|---|---|---|---|")
    lat = args.latency * 1000
    print(
        f"| one call, fake latency {lat:.0f} ms: median wall | {ratio['bare_wall']:.2f} ms "
        f"| {ratio['tg_wall']:.2f} ms | ratio {ratio['ratio']:.3f} | <= 1.05 |"
    )
    print(
        f"| one call: client CPU per call | {ratio['bare_cpu']:.2f} ms | {ratio['tg_cpu']:.2f} ms "
        f"| +{ratio['tg_cpu'] - ratio['bare_cpu']:.2f} ms; idle-machine ratio {ratio['idle_ratio']:.3f} "
        "| <= 1.05 |"
    )
    print(
        f"| dead primary, breaker open (latency 0): median wall | direct {dead['direct_wall']:.2f} ms "
        f"| via chain {dead['chain_wall']:.2f} ms | lost {dead['lost_wall']:.3f} ms wall, "
        f"{dead['lost_cpu']:.3f} ms CPU | < 1 ms |"
    )
    conc = args.concurrency_latency
    print(
        f"| {args.calls} concurrent calls, fake latency {conc:g} s | {many['bare']:.2f} s "
        f"({many['bare'] / conc:.2f}x latency) | {many['thinkgraph']:.2f} s "
        f"| {many['thinkgraph'] / conc:.2f}x latency, {many['thinkgraph'] / many['bare']:.2f}x bare "
        "| <= 1.3x latency |"
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
