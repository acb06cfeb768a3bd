"""``Graph``: LangGraph's ``StateGraph`` with a model per node, policies and SQL persistence.

LangGraph's concepts stay visible: nodes are ordinary callables, runnables or compiled
subgraphs; edges, conditional edges, ``START`` and ``END`` work as in LangGraph, and the
underlying ``StateGraph`` is available as :attr:`Graph.state_graph`. What thinkgraph adds is a
model per node (see :mod:`thinkgraph.graphs._resolve` for the resolution order), run budgets,
residency policies, and a :meth:`Graph.compile` that persists to the settings database.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import inspect
from collections.abc import Callable, Coroutine, Hashable, Mapping, Sequence
from typing import Any

from langchain_core.runnables import Runnable
from langgraph.graph import StateGraph

from thinkgraph.exceptions import ConfigError
from thinkgraph.graphs._policies import Budget, Residency
from thinkgraph.graphs._proxy import NodeModel
from thinkgraph.graphs._resolve import ModelChoice, ModelLike, Resolver

__all__ = ["Graph"]


def _residency(value: Residency | Mapping[str, Any] | None) -> Residency | None:
    if value is None or isinstance(value, Residency):
        return value
    return Residency.model_validate(dict(value))


def _budget(value: Budget | Mapping[str, Any] | None) -> Budget | None:
    if value is None or isinstance(value, Budget):
        return value
    return Budget.model_validate(dict(value))


def wants_model(node: Any) -> bool:
    """True when ``node`` is a plain callable with a ``model`` parameter (the node's model is injected)."""
    if isinstance(node, Runnable) or not callable(node):
        return False
    try:
        return "model" in inspect.signature(node).parameters
    except (TypeError, ValueError):
        return False


def _refers_to_graph(node: Any) -> bool:
    """Whether a node function refers to a LangGraph graph it may run as a subgraph (the check
    LangGraph makes on plain function nodes, which it cannot make through thinkgraph's wrapping)."""
    from langchain_core.runnables.utils import get_function_nonlocals
    from langgraph.pregel import Pregel

    target = node.func if isinstance(node, functools.partial) else node
    try:
        found = get_function_nonlocals(target)
    except Exception:  # source not available: assume it may
        return True
    return any(isinstance(getattr(value, "__self__", value), Pregel) for value in found)


def _run_coroutine(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coroutine`` to its end from sync code, on a private event loop.

    When this thread already runs an event loop (the sync API called from async code or a
    notebook), the private loop runs in a thread of its own; context variables carry over either way.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    context = contextvars.copy_context()
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="thinkgraph-node") as pool:
        return pool.submit(context.run, asyncio.run, coroutine).result()


def _both_ways(name: str, afunc: Callable[..., Any]) -> Runnable[Any, Any]:
    """An async node that also runs from the sync API (on a private event loop; context variables
    carry over, so ``interrupt()`` and the node model work)."""
    from langgraph._internal._runnable import RunnableCallable

    @functools.wraps(afunc)
    def sync(*args: Any, **kwargs: Any) -> Any:
        return _run_coroutine(afunc(*args, **kwargs))

    return RunnableCallable(sync, afunc, name=name, trace=False)


class Graph:
    """A LangGraph ``StateGraph`` whose nodes each have their own model.

    Example::

        graph = Graph(State, name="research", model="openai/gpt-4o-mini")
        graph.add_node("plan", plan_fn, model="anthropic/claude-sonnet-4-5")   # plan_fn(state, model)
        graph.add_agent("research", react_agent, tools=[search], model="ollama/llama3.1")
        graph.add_edge(START, "plan")
        graph.add_edge("plan", "research")
        graph.add_edge("research", END)
        app = graph.compile()                 # persisted to the settings database
        result = app.run({"question": "..."}, thread_id="t1")

    A node gets its model in one of three ways: a plain function with a ``model`` parameter
    receives it; :meth:`add_agent` builds an agent with it; any other code (a LangGraph subgraph
    you build yourself) uses :meth:`model_for` or the graph-wide :attr:`model`, which serves
    whichever top-level node is running. In every case the model is a :class:`NodeModel` that
    resolves the actual model at call time, so run-time overrides, budgets, residency and the
    ledger apply.

    Args:
        state_schema: the state type (TypedDict, dataclass or pydantic model), as for ``StateGraph``.
        name: the graph's name (recorded in the ledger).
        model: the graph's default model for nodes that set none.
        fallbacks: default fallback chain.
        model_timeout: default seconds per model attempt.
        reasoning_effort: default reasoning effort.
        budget: default limits of each run (a run may pass its own).
        residency: providers every node of the graph is restricted to.
        context_schema: LangGraph's runtime context schema.
        input_schema: LangGraph's input schema.
        output_schema: LangGraph's output schema.
    """

    def __init__(
        self,
        state_schema: type[Any],
        *,
        name: str = "graph",
        model: ModelLike | None = None,
        fallbacks: Sequence[Any] | None = None,
        model_timeout: float | None = None,
        reasoning_effort: str | None = None,
        budget: Budget | Mapping[str, Any] | None = None,
        residency: Residency | Mapping[str, Any] | None = None,
        context_schema: type[Any] | None = None,
        input_schema: type[Any] | None = None,
        output_schema: type[Any] | None = None,
    ) -> None:
        self.name = name
        self.state_graph: StateGraph[Any, Any, Any, Any] = StateGraph(
            state_schema,
            context_schema=context_schema,
            input_schema=input_schema,
            output_schema=output_schema,
        )
        self.default = ModelChoice.of(
            model, fallbacks=fallbacks, timeout=model_timeout, reasoning_effort=reasoning_effort
        )
        self.budget = _budget(budget)
        self.residency = _residency(residency)
        self.node_models: dict[str, ModelChoice] = {}
        self.node_residency: dict[str, Residency | None] = {}
        self._proxies: dict[tuple[str, str | None], NodeModel] = {}
        self._wrapped: dict[str, Any] = {}  # node functions LangGraph sees only through a wrapper
        self._last_resolver: Resolver | None = None
        self.model = self._proxy(None)
        """A graph-wide :class:`NodeModel`: serves whichever top-level node calls it."""

    # --- models ---------------------------------------------------------------------------

    def _proxy(self, node: str | None, role: str | None = None) -> NodeModel:
        proxy = NodeModel(node=node, role=role)
        proxy._fallback = lambda: self._last_resolver
        return proxy

    def model_for(self, node: str, role: str | None = None) -> NodeModel:
        """The late-bound model of ``node`` (or of one ``role`` of the agent at ``node``).

        One instance per node and role; use it to build agents or subgraphs yourself.
        """
        proxy = self._proxies.get((node, role))
        if proxy is None:
            proxy = self._proxies[(node, role)] = self._proxy(node, role)
        return proxy

    def set_model(
        self,
        node: str,
        model: ModelLike | None = None,
        *,
        fallbacks: Sequence[Any] | None = None,
        model_timeout: float | None = None,
        reasoning_effort: str | None = None,
        residency: Residency | Mapping[str, Any] | None = None,
    ) -> Graph:
        """Set (or replace) the model, options and residency policy of ``node``.

        ``node`` may also be ``"node.role"`` to choose the model of one role of a multi-model agent.
        """
        choice = ModelChoice.of(
            model, fallbacks=fallbacks, timeout=model_timeout, reasoning_effort=reasoning_effort
        )
        if choice.empty:
            self.node_models.pop(node, None)
        else:
            self.node_models[node] = choice
        self.node_residency[node] = _residency(residency)
        return self

    # --- nodes and edges ------------------------------------------------------------------

    def add_node(
        self,
        name: str,
        node: Any,
        *,
        model: ModelLike | None = None,
        fallbacks: Sequence[Any] | None = None,
        model_timeout: float | None = None,
        reasoning_effort: str | None = None,
        residency: Residency | Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Graph:
        """Add a node: a function, a runnable or a compiled LangGraph subgraph, with its own model.

        A plain function with a ``model`` parameter receives the node's :class:`NodeModel`.
        Other keyword arguments (``retry_policy``, ``defer``, ``destinations``, ``timeout`` ...)
        go to ``StateGraph.add_node`` unchanged.

        Raises:
            ConfigError: ``name`` is already a node.
        """
        if name in self.state_graph.nodes:
            raise ConfigError(f"graph {self.name!r} already has a node {name!r}; choose another name")
        self.set_model(
            name,
            model,
            fallbacks=fallbacks,
            model_timeout=model_timeout,
            reasoning_effort=reasoning_effort,
            residency=residency,
        )
        action = node
        if wants_model(node):
            action = functools.partial(node, model=self.model_for(name))
        if not isinstance(action, Runnable) and inspect.iscoroutinefunction(action):
            action = _both_ways(name, action)
        if action is not node:
            self._wrapped[name] = node
        self.state_graph.add_node(name, action, **kwargs)
        return self

    def add_agent(
        self,
        name: str,
        agent: Callable[..., Any],
        *,
        model: ModelLike | None = None,
        fallbacks: Sequence[Any] | None = None,
        model_timeout: float | None = None,
        reasoning_effort: str | None = None,
        residency: Residency | Mapping[str, Any] | None = None,
        roles: Sequence[str] = (),
        role_models: Mapping[str, ModelLike | ModelChoice] | None = None,
        node_options: Mapping[str, Any] | None = None,
        **agent_kwargs: Any,
    ) -> Graph:
        """Build an agent with the node's model and add it as node ``name``.

        Args:
            name: the node name.
            agent: a factory called as ``agent(model, **agent_kwargs)`` that returns a node: a
                thinkgraph agent builder such as ``build_tool_agent`` (an uncompiled ``StateGraph``
                is compiled as a subgraph), or any callable returning a runnable.
            model: the node's model (and ``fallbacks``, ``model_timeout``, ``reasoning_effort``).
            residency: the node's residency policy.
            roles: for factories taking several models, their keyword names, main one first
                (``("model", "critic")``): the main one gets the node's model, each other one the
                model of ``"node.role"`` (falling back to the node's).
            role_models: models for the other roles, by role name.
            node_options: keyword arguments for ``StateGraph.add_node``.
            **agent_kwargs: passed to the factory (``tools``, ``prompt`` ...).
        """
        if roles:
            models = {roles[0]: self.model_for(name)} | {r: self.model_for(name, r) for r in roles[1:]}
            built = agent(**models, **agent_kwargs)
        else:
            built = agent(self.model_for(name), **agent_kwargs)
        for role, choice in (role_models or {}).items():
            self.node_models[f"{name}.{role}"] = ModelChoice.of(choice)
        if isinstance(built, StateGraph):
            built = built.compile(name=name)
        return self.add_node(
            name,
            built,
            model=model,
            fallbacks=fallbacks,
            model_timeout=model_timeout,
            reasoning_effort=reasoning_effort,
            residency=residency,
            **dict(node_options or {}),
        )

    def add_edge(self, start: str | list[str], end: str) -> Graph:
        """Add an edge, as ``StateGraph.add_edge`` (``START``/``END`` allowed)."""
        self.state_graph.add_edge(start, end)
        return self

    def add_conditional_edges(
        self,
        source: str,
        path: Callable[..., Any] | Runnable[Any, Any],
        path_map: Mapping[Hashable, str] | list[str] | None = None,
    ) -> Graph:
        """Add conditional edges, as ``StateGraph.add_conditional_edges``."""
        self.state_graph.add_conditional_edges(source, path, path_map)  # type: ignore[arg-type]
        return self

    def add_sequence(self, nodes: Sequence[tuple[str, Any]]) -> Graph:
        """Add ``(name, node)`` pairs in order, each with an edge to the next."""
        previous: str | None = None
        for name, node in nodes:
            self.add_node(name, node)
            if previous is not None:
                self.add_edge(previous, name)
            previous = name
        return self

    def set_entry_point(self, node: str) -> Graph:
        """Run ``node`` first (an edge from ``START``)."""
        self.state_graph.set_entry_point(node)
        return self

    def set_finish_point(self, node: str) -> Graph:
        """End the run after ``node`` (an edge to ``END``)."""
        self.state_graph.set_finish_point(node)
        return self

    # --- compile --------------------------------------------------------------------------

    def resolver(self, settings: Any = None) -> Resolver:
        """A :class:`Resolver` for this graph's current nodes and the given (or current) settings."""
        if settings is None:
            from thinkgraph._settings import load_settings

            settings = load_settings()
        return Resolver(
            graph=self.name,
            nodes=self.node_models,
            graph_default=self.default,
            settings_models=settings.models,
            settings_default=settings.default_model,
            residency=self.node_residency,
            graph_residency=self.residency,
        )

    def compile(
        self,
        *,
        memory: bool = False,
        database_url: str | None = None,
        checkpointer: Any = None,
        store: Any = None,
        ledger: Any = None,
        settings: Any = None,
        engine_options: Mapping[str, Any] | None = None,
        budget: Budget | Mapping[str, Any] | None = None,
        interrupt_before: Sequence[str] | None = None,
        interrupt_after: Sequence[str] | None = None,
        debug: bool = False,
    ) -> Any:
        """Compile into a :class:`~thinkgraph.graphs.CompiledGraph` that runs, streams and resumes.

        Persistence, by default, is the settings database (``THINKGRAPH_DATABASE_URL``):
        checkpoints through ``SQLCheckpointer``, long-term memory through ``SQLStore`` and run
        accounting through ``Ledger``, tables created if missing. ``memory=True`` keeps
        everything in memory (tests); explicit ``checkpointer``, ``store`` and ``ledger`` win.

        Args:
            memory: keep checkpoints, store and ledger in memory.
            database_url: a database other than the settings one.
            checkpointer: a LangGraph checkpointer to use instead (``False``: none).
            store: a LangGraph store to use instead (``False``: none).
            ledger: a ``thinkgraph.memory.Ledger`` to use instead (``False``: no run accounting).
            settings: ``Settings`` to resolve models with (default: :func:`load_settings`).
            engine_options: SQLAlchemy pool options for the engines opened here (default: a
                larger pool and a long wait for a connection, for many concurrent runs).
            budget: default limits of each run (overrides the graph's).
            interrupt_before: nodes to pause before (LangGraph breakpoints).
            interrupt_after: nodes to pause after.
            debug: LangGraph debug output.

        Raises:
            ConfigError: a node's statically known model chain breaks its residency policy, or
                the persistence settings are invalid.
        """
        from thinkgraph.graphs._persistence import open_persistence
        from thinkgraph.graphs._runner import CompiledGraph

        if settings is None:
            from thinkgraph._settings import load_settings

            settings = load_settings()
        resolver = self.resolver(settings)
        for node in self.state_graph.nodes:
            resolver.check_static(node)
        for key in self.node_models:
            node, dot, role = key.partition(".")
            if dot:
                resolver.check_static(node, role)
        persistence = open_persistence(
            memory=memory,
            url=database_url or settings.database_url,
            checkpointer=checkpointer,
            store=store,
            ledger=ledger,
            engine_options=engine_options,
        )
        saver = persistence.checkpointer
        deferred = saver is not None and hasattr(persistence.ledger, "defer_model_call")
        if deferred:
            from thinkgraph.graphs._ledger_saver import LedgerFlushingSaver

            saver = LedgerFlushingSaver(saver, persistence.ledger)
        compiled = self.state_graph.compile(
            checkpointer=saver,
            store=persistence.store,
            interrupt_before=list(interrupt_before) if interrupt_before else None,
            interrupt_after=list(interrupt_after) if interrupt_after else None,
            debug=debug,
            name=self.name,
        )
        self._last_resolver = resolver
        nested = any(True for _ in compiled.get_subgraphs()) or any(
            _refers_to_graph(fn) for name, fn in self._wrapped.items() if name in self.state_graph.nodes
        )
        return CompiledGraph(
            compiled,
            name=self.name,
            resolver=resolver,
            persistence=persistence,
            budget=_budget(budget) or self.budget,
            deferred=deferred,
            nested=nested,
        )
