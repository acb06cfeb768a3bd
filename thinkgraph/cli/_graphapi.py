"""The CLI's bridge to ``thinkgraph.graphs``: node chains, forced model choices, compiling, streaming.

Run-time overrides rank below a model set on the node itself (see
:mod:`thinkgraph.graphs._resolve`), so the CLI's ``--model`` and ``--offline`` choices, which must
win, are set on the loaded graph's nodes before it is compiled (the graph object was loaded by
this process for this run, so nothing else sees the change).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from thinkgraph.cli._errors import fail

if TYPE_CHECKING:
    from thinkgraph.models import ModelSpec

__all__ = [
    "Session",
    "builder_of",
    "coerce_input",
    "force_models",
    "load_thread_record_sync",
    "node_chains",
    "node_names",
    "open_session",
    "pending_interrupts",
    "resume_stream",
    "run_stream",
    "save_thread_record",
    "thread_exists",
]

RECORD_NAMESPACE = ("thinkgraph", "cli", "threads")
"""Where the CLI remembers, per thread, the target it ran and whether it ran offline."""


def builder_of(graph: Any) -> Any:
    """The thinkgraph ``Graph`` builder behind ``graph`` (itself, or what a YAML loader returned)."""
    from thinkgraph.graphs import Graph

    if isinstance(graph, Graph):
        return graph
    for attr in ("builder", "graph"):
        inner = getattr(graph, attr, None)
        if isinstance(inner, Graph):
            return inner
    raise fail(
        f"the target is a {type(graph).__name__}, not a thinkgraph Graph; expose the uncompiled "
        "thinkgraph.graphs.Graph (as 'graph' or from build_graph()) so the CLI can compile it on --db"
    )


def node_names(graph: Any) -> list[str]:
    """The graph's nodes in the order they were added, then the other names models are set for.

    Agents with several models (a planner and an executor inside one node) use
    ``graph.model_for("planner")``; such names carry their own model and are listed too.
    """
    builder = builder_of(graph)
    names = [str(name) for name in builder.state_graph.nodes if not str(name).startswith("__")]
    return names + [name for name in builder.node_models if name not in names]


def node_chains(
    graph: Any, overrides: Mapping[str, Sequence[Any]] | None = None
) -> dict[str, list[ModelSpec] | None]:
    """Each node's model chain (primary first) after ``overrides``.

    The chain is empty when the node's model is an opaque chat model (it does not say what it
    calls), and ``None`` when no level sets a model for the node.
    """
    from thinkgraph.exceptions import ConfigError
    from thinkgraph.graphs._resolve import ModelChoice

    builder = builder_of(graph)
    resolver = builder.resolver()
    run_overrides = {node: ModelChoice.of(list(chain)) for node, chain in (overrides or {}).items()}
    unknown = sorted(set(run_overrides) - set(node_names(graph)) - {"*"})
    if unknown:
        raise fail(
            f"--model names node(s) {', '.join(map(repr, unknown))} that the graph does not have "
            f"(nodes: {', '.join(node_names(graph))})"
        )
    chains: dict[str, list[ModelSpec] | None] = {}
    for node in node_names(graph):
        forced = run_overrides.get(node) or run_overrides.get("*")
        if forced is not None:
            resolver.nodes[node] = ModelChoice.of(forced.model, fallbacks=list(forced.fallbacks or ()))
        try:
            resolved = resolver.resolve(node)
        except ConfigError:
            chains[node] = None
            continue
        chains[node] = list(resolved.chain) if resolved.chain is not None else []
    return chains


def force_models(graph: Any, chains: Mapping[str, Sequence[Any]]) -> None:
    """Set each node's chain on the loaded graph so it wins over every other level."""
    builder = builder_of(graph)
    for node, chain in chains.items():
        if node == "*" or not chain:
            continue
        head, *rest = list(chain)
        builder.set_model(node, head, fallbacks=rest, residency=builder.node_residency.get(node))


@dataclass
class Session:
    """A graph compiled onto one database for the length of one command."""

    compiled: Any
    url: str
    compiled_from: Any = None

    async def aclose(self) -> None:
        """Close the database engines the compiled graph opened."""
        await self.compiled.aclose()


async def open_session(graph: Any, url: str, chains: Mapping[str, Sequence[Any]] | None = None) -> Session:
    """Force ``chains`` onto the graph's nodes and compile it with persistence on ``url``."""
    if chains:
        force_models(graph, chains)
    builder = builder_of(graph)
    compiled = builder.compile(database_url=url)
    return Session(compiled, url, graph)


def run_stream(session: Session, data: Any, thread: str | None, budget: float | None) -> AsyncIterator[Any]:
    """The events of a new run (on ``thread``, or a new thread)."""
    kwargs: dict[str, Any] = {}
    if thread is not None:
        kwargs["thread_id"] = thread
    if budget is not None:
        kwargs["budget"] = {"max_cost_usd": budget}
    stream: AsyncIterator[Any] = session.compiled.astream(coerce_input(session.compiled_from, data), **kwargs)
    return stream


def resume_stream(
    session: Session,
    thread: str,
    answers: Mapping[str, Any] | None,
    budget: float | None,
) -> AsyncIterator[Any]:
    """The events of the run that resumes ``thread`` with ``answers`` (by interrupt id)."""
    kwargs: dict[str, Any] = {}
    if budget is not None:
        kwargs["budget"] = {"max_cost_usd": budget}
    stream: AsyncIterator[Any] = session.compiled.astream(
        None, thread_id=thread, resume=dict(answers) if answers else None, **kwargs
    )
    return stream


async def save_thread_record(session: Session, thread: str, record: Mapping[str, Any]) -> None:
    """Remember how ``thread`` was run, so ``thinkgraph resume THREAD`` needs no target.

    Kept in the graph's own store (the same database), under :data:`RECORD_NAMESPACE`.
    """
    if thread:
        await session.compiled.store.aput(RECORD_NAMESPACE, thread, dict(record))


def thread_exists(url: str, thread: str) -> bool:
    """Whether ``thread`` has a checkpoint in the database (no schema yet: it has none)."""
    from thinkgraph.memory import SQLCheckpointer, schema_revision

    if schema_revision(url) is None:
        return False
    saver = SQLCheckpointer(url)
    try:
        return saver.get_tuple({"configurable": {"thread_id": thread, "checkpoint_ns": ""}}) is not None
    finally:
        saver.close()


def load_thread_record_sync(url: str, thread: str) -> dict[str, Any] | None:
    """What :func:`save_thread_record` remembered about ``thread``, if anything."""
    from thinkgraph.memory import SQLStore

    store = SQLStore(url)
    try:
        store.setup()
        item = store.get(RECORD_NAMESPACE, thread)
    finally:
        store.close()
    return dict(item.value) if item is not None else None


async def pending_interrupts(session: Session, thread: str) -> list[tuple[str, Any]]:
    """The interrupts ``thread`` waits on: ``(interrupt id, value)`` pairs (empty when none)."""
    snapshot = await session.compiled.aget_state(thread)
    return [(str(item.id), item.value) for item in snapshot.interrupts]


_TEXT_KEYS = ("input", "question", "query", "task", "ticket", "request", "text", "prompt")


def coerce_input(graph: Any, data: Any) -> Any:
    """Turn text input into the graph's input state: a user message, or its one text field.

    JSON objects (and ``None``) are passed as they are.
    """
    if not isinstance(data, str):
        return data
    import typing

    builder = builder_of(graph)
    schema = getattr(builder.state_graph, "input_schema", None) or builder.state_graph.state_schema
    try:
        hints = typing.get_type_hints(schema)
    except Exception:  # a schema whose annotations cannot be evaluated here
        hints = dict(getattr(schema, "__annotations__", {}))
    if "messages" in hints:
        return {"messages": [{"role": "user", "content": data}]}
    for key in _TEXT_KEYS:
        if key in hints:
            return {key: data}
    texts = [key for key, hint in hints.items() if hint is str]
    if len(texts) == 1:
        return {texts[0]: data}
    raise fail(
        "cannot tell which field of the graph's input the text goes to "
        f"(fields: {', '.join(hints) or 'none'}); pass the input as a JSON object instead"
    )
