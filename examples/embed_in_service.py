"""Embedding a graph in a web service: start runs over HTTP and stream their events (SSE).

What it shows: an ``aiohttp.web`` application (aiohttp is already a thinkgraph dependency) that
compiles one graph once, on one database shared by every request, and serves:

* ``POST /runs`` with ``{"input": "...", "thread_id": "optional"}`` — starts a run in the
  background and answers ``202`` with its thread id at once;
* ``GET /runs/{thread_id}/events`` — the run's events as server-sent events (``event: <kind>``,
  ``data: <json>``), from the first one (late subscribers catch up) until the run finishes,
  pauses or fails;
* ``GET /threads`` — the threads of the graph, with their last status and cost.

The graph is ``examples/resilient_pipeline.py`` (three steps on one fallback chain).

Run it offline (no API key needed), then call it::

    python examples/embed_in_service.py --offline --port 8080
    curl -s -X POST localhost:8080/runs -d '{"input": "Heat pumps move heat."}'
    curl -N localhost:8080/runs/THREAD/events

Run it live (OPENAI_API_KEY, ANTHROPIC_API_KEY, MISTRAL_API_KEY) on PostgreSQL::

    python examples/embed_in_service.py --db postgresql://me@127.0.0.1/agents --port 8080
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.util
import json
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

from aiohttp import web

from thinkgraph.exceptions import ThinkgraphError

HERE = Path(__file__).parent
_TERMINAL = {"run_finished", "run_interrupted", "error"}


def _load_example(name: str) -> ModuleType:
    """Import a sibling example by path (works however this file is started)."""
    spec = importlib.util.spec_from_file_location(f"thinkgraph_example_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # typing needs the module registered to read its annotations
    spec.loader.exec_module(module)
    return module


def _plain(value: Any) -> Any:
    """JSON for event fields: messages and models become mappings, the rest text."""
    from langchain_core.messages import BaseMessage

    if isinstance(value, BaseMessage):
        return {"type": value.type, "content": value.content}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    return str(value)


def event_json(event: Any) -> str:
    """One run event as JSON."""
    return json.dumps(_plain(event), default=_plain)


class RunChannel:
    """The events of one run so far, and a condition to wait for more."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.changed = asyncio.Condition()

    async def publish(self, kind: str, data: str) -> None:
        async with self.changed:
            self.events.append((kind, data))
            self.changed.notify_all()

    @property
    def done(self) -> bool:
        return bool(self.events) and self.events[-1][0] in _TERMINAL


class Service:
    """One compiled graph shared by every request, and the channels of the runs it started."""

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled
        self.channels: dict[str, RunChannel] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    async def drive(self, thread_id: str, data: Any, channel: RunChannel) -> None:
        try:
            async for event in self.compiled.astream(data, thread_id=thread_id):
                await channel.publish(event.kind, event_json(event))
        except (ThinkgraphError, ValueError) as exc:
            await channel.publish("error", json.dumps({"error": type(exc).__name__, "message": str(exc)}))

    async def start_run(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text='send JSON: {"input": "...", "thread_id": "optional"}') from None
        text = body.get("input") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise web.HTTPBadRequest(text='"input" must be a non-empty string')
        thread_id = str(body.get("thread_id") or uuid.uuid4().hex)
        current = self.channels.get(thread_id)
        if current is not None and not current.done:
            raise web.HTTPConflict(text=f"thread {thread_id!r} already has a run in progress")
        channel = self.channels[thread_id] = RunChannel()
        task = asyncio.create_task(self.drive(thread_id, {"messages": [("user", text)]}, channel))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return web.json_response({"thread_id": thread_id, "events": f"/runs/{thread_id}/events"}, status=202)

    async def stream_events(self, request: web.Request) -> web.StreamResponse:
        thread_id = request.match_info["thread_id"]
        channel = self.channels.get(thread_id)
        if channel is None:
            raise web.HTTPNotFound(text=f"no run was started on thread {thread_id!r} by this service")
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        sent = 0
        while True:
            async with channel.changed:
                await channel.changed.wait_for(lambda seen=sent: len(channel.events) > seen)  # type: ignore[misc]
                pending = channel.events[sent:]
            for kind, data in pending:
                await response.write(f"event: {kind}\ndata: {data}\n\n".encode())
            sent += len(pending)
            if pending and pending[-1][0] in _TERMINAL:
                break
        await response.write_eof()
        return response

    async def list_threads(self, request: web.Request) -> web.Response:
        threads = await self.compiled.athreads()
        return web.json_response(threads, dumps=lambda data: json.dumps(data, default=_plain))

    async def close(self, app: web.Application) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.compiled.aclose()


def make_app(database_url: str, *, fake: Any = None) -> web.Application:
    """The service on ``database_url``; with ``fake`` (a running FakeProvider) every model is offline."""
    from thinkgraph._litellm import load_litellm

    litellm: Any = load_litellm()
    litellm.suppress_debug_info = True  # this service reports errors as events, not on stdout
    pipeline = _load_example("resilient_pipeline")
    graph = pipeline.build_graph()
    if fake is not None:
        from thinkgraph.cli import prepare_offline

        prepare_offline(graph, fake, pipeline.OFFLINE_SCRIPT)
    service = Service(graph.compile(database_url=database_url))
    app = web.Application()
    app.router.add_post("/runs", service.start_run)
    app.router.add_get("/runs/{thread_id}/events", service.stream_events)
    app.router.add_get("/threads", service.list_threads)
    app.on_cleanup.append(service.close)
    return app


def main() -> None:
    """``python examples/embed_in_service.py [--offline] [--db URL] [--port N]``."""
    from thinkgraph import load_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None, help="database URL (default: the settings database)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--offline", action="store_true", help="answer every model with the fake provider")
    args = parser.parse_args()
    url = args.db or load_settings().database_url
    if args.offline:
        from thinkgraph.testing import FakeProvider

        with FakeProvider() as fake:
            web.run_app(make_app(url, fake=fake), host="127.0.0.1", port=args.port)
    else:
        web.run_app(make_app(url), host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
