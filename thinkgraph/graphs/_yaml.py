"""Declarative graphs: a YAML file validated by pydantic, built into the same graph as the Python API.

Example::

    name: research
    state:
      messages: messages                 # a message list merged with add_messages
      notes: {type: "list[str]", reducer: append}
      answer: str
    model: openai/gpt-4o-mini            # graph default (also: fallbacks, model_timeout, reasoning_effort)
    policies:
      budget: {max_cost_usd: 0.50, max_model_calls: 40}
      residency: {providers: [openai, anthropic]}
    nodes:
      research:
        kind: react                      # react | plan_execute | reflection | router | agent | function
        model: {model: anthropic/claude-sonnet-4-5, timeout: 30}
        fallbacks: [openai/gpt-4o-mini]
        prompt: "Find the facts."
        tools: [myapp.tools:search]
      write:
        kind: function
        function: myapp.nodes:write      # a function; gets the node's model if it has a `model` parameter
    edges:
      - [START, research]
      - {from: research, to: write}
      - [write, END]
    routes:
      - {from: write, router: myapp.nodes:done, map: {yes: END, no: research}}

Every error names the file, the field path and what is wrong.
"""

from __future__ import annotations

import importlib
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from thinkgraph.exceptions import ConfigError
from thinkgraph.graphs._policies import Budget, Residency

__all__ = [
    "AGENT_KINDS",
    "AgentKind",
    "EdgeSpec",
    "GraphSpec",
    "NodeSpec",
    "RouteSpec",
    "StateField",
    "load_graph",
]


@dataclass(frozen=True)
class AgentKind:
    """How the YAML format builds one kind of agent.

    Attributes:
        factory: import path of the builder.
        roles: the builder's model parameters, main one first (it gets the node's model; the
            others the node's ``roles`` entries, else the node's model).
        prompt: the builder's parameter that ``prompt`` sets.
    """

    factory: str
    roles: tuple[str, ...]
    prompt: str | None


AGENT_KINDS: dict[str, AgentKind] = {
    "react": AgentKind("thinkgraph.agents:build_tool_agent", ("model",), "system_prompt"),
    "plan_execute": AgentKind(
        "thinkgraph.agents:build_plan_execute_agent", ("planner", "executor", "replanner"), "planner_prompt"
    ),
    "reflection": AgentKind("thinkgraph.agents:build_reflection_agent", ("model", "critic"), "answer_prompt"),
    "router": AgentKind(
        "thinkgraph.agents:build_difficulty_router", ("grader", "fast", "reasoning"), "grader_prompt"
    ),
}
"""Agent kinds of the YAML format (``kind: react`` ...) and how each is built."""

_TYPES: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "dict": dict,
    "list": list,
    "any": Any,
    "list[str]": list[str],
    "list[int]": list[int],
    "list[float]": list[float],
    "list[dict]": list[dict[str, Any]],
    "dict[str, str]": dict[str, str],
    "dict[str, any]": dict[str, Any],
}
_REDUCERS = {"append": operator.add, "add": operator.add}
_ENDPOINTS = {"START": "__start__", "END": "__end__", "__start__": "__start__", "__end__": "__end__"}


def import_object(path: str) -> Any:
    """Import ``"package.module:attribute"`` (or ``"package.module.attribute"``).

    Raises:
        ValueError: the module or attribute does not exist (the message names it).
    """
    module_name, sep, attribute = path.partition(":")
    if not sep:
        module_name, _, attribute = path.rpartition(".")
    if not module_name or not attribute:
        raise ValueError(f"{path!r} is not an import path; write 'package.module:attribute'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {module_name!r} of {path!r}: {exc}") from None
    obj: Any = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"module {module_name!r} has no attribute {attribute!r} (from {path!r})")
        obj = getattr(obj, part)
    return obj


class StateField(BaseModel):
    """One state channel: its type and how concurrent or successive writes combine.

    Attributes:
        type: ``str``, ``int``, ``float``, ``bool``, ``dict``, ``list``, ``any``, ``list[str]``,
            ``list[int]``, ``list[float]``, ``list[dict]``, ``dict[str, str]``, ``dict[str, any]``
            or ``messages`` (a message list merged by id with ``add_messages``).
        reducer: ``replace`` (default: last write wins), ``append``/``add`` (``operator.add``),
            ``messages`` or an import path of a ``(current, update) -> new`` function.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = "any"
    reducer: str = "replace"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"type": data} if isinstance(data, str) else data

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value != "messages" and value.replace(" ", "") not in {t.replace(" ", "") for t in _TYPES}:
            raise ValueError(f"unknown type {value!r}; use one of {sorted([*_TYPES, 'messages'])}")
        return value

    @field_validator("reducer")
    @classmethod
    def _known_reducer(cls, value: str) -> str:
        if value not in ("replace", "messages", *_REDUCERS):
            import_object(value)
        return value

    def annotation(self) -> Any:
        """The type annotation of the channel (with its reducer)."""
        from langchain_core.messages import AnyMessage
        from langgraph.graph import add_messages

        if self.type == "messages":
            return Annotated[list[AnyMessage], add_messages]
        base = next(t for name, t in _TYPES.items() if name.replace(" ", "") == self.type.replace(" ", ""))
        if self.reducer == "replace":
            return base
        if self.reducer == "messages":
            return Annotated[base, add_messages]
        reducer = _REDUCERS.get(self.reducer) or import_object(self.reducer)
        return Annotated[base, reducer]


class ModelFields(BaseModel):
    """Model settings shared by the graph level and each node."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | dict[str, Any] | list[str | dict[str, Any]] | None = None
    fallbacks: list[str | dict[str, Any]] | None = None
    model_timeout: float | None = Field(default=None, gt=0)
    reasoning_effort: str | None = None

    @field_validator("model", "fallbacks")
    @classmethod
    def _valid_models(cls, value: Any) -> Any:
        from thinkgraph.graphs._resolve import ModelChoice

        if value is None:
            return value
        for item in value if isinstance(value, list) else [value]:
            ModelChoice.of(item)
        return value


class NodeSpec(ModelFields):
    """One node.

    Attributes:
        kind: ``react``, ``plan_execute``, ``reflection``, ``router`` (thinkgraph agents),
            ``agent`` (any factory named by ``factory``) or ``function`` (named by ``function``).
        function: import path of the node function (``kind: function``).
        factory: import path of an agent factory called as ``factory(model, **options)``.
        prompt: the agent's (main) prompt.
        roles: models of the agent's other roles (``critic``, ``executor``, ``fast`` ...).
        tools: import paths of the agent's tools.
        options: further keyword arguments of the agent factory.
        residency: the node's residency policy.
    """

    kind: Literal["react", "plan_execute", "reflection", "router", "agent", "function"] = "function"
    function: str | None = None
    factory: str | None = None
    prompt: str | None = None
    tools: list[str] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)
    roles: dict[str, str | dict[str, Any] | list[str | dict[str, Any]]] = Field(default_factory=dict)
    residency: Residency | None = None

    @model_validator(mode="after")
    def _target(self) -> NodeSpec:
        if self.kind == "function":
            if not self.function:
                raise ValueError("a 'function' node needs 'function: package.module:callable'")
            if not callable(import_object(self.function)):
                raise ValueError(f"{self.function!r} is not callable")
        elif self.kind == "agent" and not self.factory:
            raise ValueError("an 'agent' node needs 'factory: package.module:callable'")
        if self.kind != "function" and self.function:
            raise ValueError(f"'function' is only for kind 'function', not {self.kind!r}")
        kind = AGENT_KINDS.get(self.kind)
        for role in self.roles:
            if kind is None or role not in kind.roles[1:]:
                allowed = list(kind.roles[1:]) if kind else []
                raise ValueError(f"kind {self.kind!r} has no model role {role!r} (roles: {allowed})")
        from thinkgraph.graphs._resolve import ModelChoice

        for value in self.roles.values():
            ModelChoice.of(value)
        for path in self.tools:
            import_object(path)
        return self


class EdgeSpec(BaseModel):
    """An edge ``from`` → ``to`` (``START``/``END`` allowed); also written ``[from, to]``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    source: str | list[str] = Field(alias="from")
    target: str = Field(alias="to")

    @model_validator(mode="before")
    @classmethod
    def _pair(cls, data: Any) -> Any:
        if isinstance(data, list | tuple):
            if len(data) != 2:
                raise ValueError(f"an edge is [from, to], got {list(data)!r}")
            return {"from": data[0], "to": data[1]}
        return data


class RouteSpec(BaseModel):
    """Conditional edges: after ``from``, ``router`` (an import path) picks the next node(s).

    Attributes:
        source: the node the routes leave from.
        router: import path of ``(state) -> name | list[name] | Send``.
        map: the router's return values mapped to node names (``END`` allowed); also what
            ``draw_mermaid`` shows.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    source: str = Field(alias="from")
    router: str
    map: dict[str, str] | list[str] | None = None

    @field_validator("router")
    @classmethod
    def _importable(cls, value: str) -> str:
        if not callable(import_object(value)):
            raise ValueError(f"{value!r} is not callable")
        return value


class Policies(BaseModel):
    """Graph-wide policies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    budget: Budget | None = None
    residency: Residency | None = None


class GraphSpec(ModelFields):
    """A whole graph, as written in YAML.

    Attributes:
        name: the graph's name.
        description: free text.
        state: the state channels, by name.
        policies: budget and residency.
        nodes: the nodes, by name (in the order written).
        edges: the edges.
        routes: the conditional edges.
    """

    name: str = "graph"
    description: str | None = None
    state: dict[str, StateField] = Field(min_length=1)
    policies: Policies = Field(default_factory=Policies)
    nodes: dict[str, NodeSpec] = Field(min_length=1)
    edges: list[EdgeSpec] = Field(default_factory=list)
    routes: list[RouteSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_endpoints(self) -> GraphSpec:
        names = set(self.nodes)
        for i, edge in enumerate(self.edges):
            for end in [*(edge.source if isinstance(edge.source, list) else [edge.source]), edge.target]:
                if end not in names and end not in _ENDPOINTS:
                    raise ValueError(
                        f"edges[{i}] names {end!r}, which is not a node (nodes: {sorted(names)})"
                    )
        for i, route in enumerate(self.routes):
            if route.source not in names:
                raise ValueError(f"routes[{i}].from names {route.source!r}, which is not a node")
            targets = route.map.values() if isinstance(route.map, dict) else route.map or []
            for end in targets:
                if end not in names and end not in _ENDPOINTS:
                    raise ValueError(f"routes[{i}].map names {end!r}, which is not a node")
        return self

    @classmethod
    def from_file(cls, path: str | Path) -> GraphSpec:
        """Read and validate a YAML file.

        Raises:
            ConfigError: the file is missing, not YAML, or invalid; the message names the file,
                the field path and what is wrong.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{str(path)!r}: cannot read the graph file: {exc.strerror or exc}") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{str(path)!r}: not valid YAML: {exc}") from None
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"{str(path)!r}: a graph file must be a mapping at the top, got {type(data).__name__}"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(_problem(err) for err in exc.errors())
            raise ConfigError(f"{str(path)!r}: {problems}") from None

    def state_schema(self) -> type[Any]:
        """The state as a ``TypedDict`` with each channel's type and reducer."""
        fields = {name: spec.annotation() for name, spec in self.state.items()}
        schema: type[Any] = TypedDict(  # type: ignore[misc]
            f"{self.name.title().replace('-', '').replace('_', '')}State", fields
        )
        return schema

    def build(self) -> Any:
        """The uncompiled :class:`~thinkgraph.graphs.Graph` this spec describes."""
        from thinkgraph.graphs._builder import Graph

        graph = Graph(
            self.state_schema(),
            name=self.name,
            model=self.model,
            fallbacks=self.fallbacks,
            model_timeout=self.model_timeout,
            reasoning_effort=self.reasoning_effort,
            budget=self.policies.budget,
            residency=self.policies.residency,
        )
        for name, node in self.nodes.items():
            model_options: dict[str, Any] = {
                "model": node.model,
                "fallbacks": node.fallbacks,
                "model_timeout": node.model_timeout,
                "reasoning_effort": node.reasoning_effort,
                "residency": node.residency,
            }
            if node.kind == "function":
                graph.add_node(name, import_object(node.function or ""), **model_options)
                continue
            kind = AGENT_KINDS.get(node.kind)
            factory: Callable[..., Any] = import_object(node.factory or (kind.factory if kind else ""))
            kwargs = dict(node.options)
            if node.tools:
                kwargs["tools"] = [import_object(t) for t in node.tools]
            if node.prompt is not None:
                kwargs[kind.prompt if kind and kind.prompt else "system_prompt"] = node.prompt
            graph.add_agent(
                name,
                factory,
                roles=kind.roles if kind else (),
                role_models=dict(node.roles),
                **model_options,
                **kwargs,
            )
        for edge in self.edges:
            source = (
                [_ENDPOINTS.get(s, s) for s in edge.source]
                if isinstance(edge.source, list)
                else _ENDPOINTS.get(edge.source, edge.source)
            )
            graph.add_edge(source, _ENDPOINTS.get(edge.target, edge.target))
        for route in self.routes:
            mapping: Any = route.map
            if isinstance(mapping, dict):
                mapping = {k: _ENDPOINTS.get(v, v) for k, v in mapping.items()}
            elif isinstance(mapping, list):
                mapping = [_ENDPOINTS.get(v, v) for v in mapping]
            graph.add_conditional_edges(route.source, import_object(route.router), mapping)
        return graph


def _problem(err: Any) -> str:
    location = ".".join(str(p) for p in err["loc"]) or "(top level)"
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{location}: {message}"


def load_graph(path: str | Path, **compile_options: Any) -> Any:
    """Build and compile the graph described by a YAML file.

    Args:
        path: the YAML file.
        **compile_options: passed to :meth:`Graph.compile` (``memory=True``, ``database_url=``...).

    Returns:
        The :class:`~thinkgraph.graphs.CompiledGraph`.

    Raises:
        ConfigError: the file is invalid; the message names the file, the field path and the problem.
    """
    spec = GraphSpec.from_file(path)
    try:
        graph = spec.build()
        return graph.compile(**compile_options)
    except ConfigError as exc:
        raise ConfigError(f"{str(path)!r}: {exc}") from None
