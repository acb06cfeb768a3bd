"""Which model a node uses: per-level choices, their resolution order, residency and downgrade.

Resolution order for a node's model, highest first:

1. the model set on the node;
2. the run's override for the node (``run(..., models={"node": ...})``; ``"*"`` for every node);
3. the settings' override by node name (``THINKGRAPH_MODELS__<node>`` or ``[models]`` in
   ``thinkgraph.toml``);
4. the graph's default model;
5. the settings' ``default_model``.

Options (fallbacks, timeout, reasoning effort) cascade the same way, each on its own: the highest
level that sets an option wins, whichever level chose the model.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from langchain_core.language_models import BaseChatModel

from thinkgraph.exceptions import ConfigError, ResidencyViolation
from thinkgraph.graphs._policies import Residency
from thinkgraph.models._spec import ModelSpec, as_spec

__all__ = ["ModelChoice", "ModelLike", "Resolved", "Resolver"]

ModelLike = BaseChatModel | ModelSpec | str | Mapping[str, Any] | Sequence[Any]
"""Anything that names a model: a chat model instance, a spec, a ``"provider/name"`` string, a
spec mapping (from settings or YAML, optionally with ``fallbacks``), or a list ``[primary,
*fallbacks]``."""

_OPTION_KEYS = ("fallbacks", "timeout", "reasoning_effort")


@dataclass(frozen=True)
class ModelChoice:
    """A model and/or options chosen at one level (node, run, settings, graph).

    Attributes:
        model: the model (``None`` when this level only sets options).
        fallbacks: models tried in order when the primary fails.
        timeout: seconds per attempt.
        reasoning_effort: ``"low"``, ``"medium"``, ``"high"`` ...
    """

    model: BaseChatModel | ModelSpec | None = None
    fallbacks: tuple[ModelSpec, ...] | None = None
    timeout: float | None = None
    reasoning_effort: str | None = None

    @property
    def empty(self) -> bool:
        """True when this level chooses nothing."""
        return self == ModelChoice()

    @classmethod
    def of(
        cls,
        value: ModelLike | ModelChoice | None = None,
        *,
        fallbacks: Sequence[ModelSpec | str | Mapping[str, Any]] | None = None,
        timeout: float | None = None,
        reasoning_effort: str | None = None,
    ) -> ModelChoice:
        """Coerce any model-like value plus explicit options into a :class:`ModelChoice`.

        Raises:
            ConfigError: the value does not name a model; the message says what was given.
        """
        base = cls._coerce(value)
        if fallbacks is not None:
            base = replace(base, fallbacks=tuple(as_spec(f) for f in fallbacks))
        if timeout is not None:
            if timeout <= 0:
                raise ConfigError(f"timeout must be a positive number of seconds, got {timeout!r}")
            base = replace(base, timeout=float(timeout))
        if reasoning_effort is not None:
            base = replace(base, reasoning_effort=reasoning_effort)
        return base

    @classmethod
    def _coerce(cls, value: Any) -> ModelChoice:
        if value is None:
            return cls()
        if isinstance(value, ModelChoice):
            return value
        if isinstance(value, BaseChatModel | ModelSpec):
            return cls(model=value)
        if isinstance(value, str):
            return cls(model=as_spec(value))
        if isinstance(value, Mapping):
            data = dict(value)
            options = {k: data.pop(k) for k in _OPTION_KEYS if k in data}
            spec = as_spec(data) if data else None
            return cls.of(spec, **options)
        if isinstance(value, Sequence) and value:
            head, *rest = list(value)
            return cls.of(head, fallbacks=[as_spec(r) for r in rest])
        raise ConfigError(
            f"expected a model (a 'provider/name' string, a ModelSpec, a mapping or a chat model), "
            f"got {type(value).__name__} {value!r}"
        )


@dataclass(frozen=True)
class Resolved:
    """The model a node will call, with the chain of specs it may reach (``None`` when opaque)."""

    model: BaseChatModel
    chain: tuple[ModelSpec, ...] | None
    source: str


def specs_of(model: BaseChatModel) -> tuple[ModelSpec, ...] | None:
    """The specs a chat model may call, primary first, when it says (a thinkgraph ``ChatModel``)."""
    chain = getattr(model, "chain", None)
    if isinstance(chain, Sequence) and chain and all(isinstance(s, ModelSpec) for s in chain):
        return tuple(chain)
    specs = getattr(model, "specs", None)
    if isinstance(specs, Sequence) and specs and all(isinstance(s, ModelSpec) for s in specs):
        return tuple(specs)
    return None


def _price(spec: ModelSpec) -> float | None:
    if spec.pricing is not None:
        return spec.pricing.input + spec.pricing.output
    from thinkgraph._litellm import load_litellm

    info: Any = load_litellm().model_cost.get(spec.model)
    if info is None and "/" in spec.model:
        info = load_litellm().model_cost.get(spec.model.split("/", 1)[1])
    if not isinstance(info, dict):
        return None
    try:
        return float(info.get("input_cost_per_token") or 0.0) + float(
            info.get("output_cost_per_token") or 0.0
        )
    except (TypeError, ValueError):
        return None


def cheapest(chain: Sequence[ModelSpec]) -> ModelSpec:
    """The cheapest spec of a chain by known price; the last one when no price is known."""
    priced = [(p, i, s) for i, s in enumerate(chain) if (p := _price(s)) is not None]
    if not priced:
        return chain[-1]
    return min(priced, key=lambda t: (t[0], t[1]))[2]


class Resolver:
    """Resolves each node's model from the levels above, and builds and shares the chat models.

    One resolver belongs to one compiled graph. Chat models are built once per distinct chain and
    shared by every run, so circuit breakers and connection pools are shared too.
    """

    def __init__(
        self,
        *,
        graph: str,
        nodes: Mapping[str, ModelChoice],
        graph_default: ModelChoice,
        settings_models: Mapping[str, str | Mapping[str, Any]],
        settings_default: str | None,
        residency: Mapping[str, Residency | None],
        graph_residency: Residency | None,
    ) -> None:
        self.graph = graph
        self.nodes = dict(nodes)
        self.graph_default = graph_default
        self.settings_models = {name: ModelChoice.of(v) for name, v in settings_models.items()}
        self.settings_default = ModelChoice.of(settings_default) if settings_default else ModelChoice()
        self.residency = dict(residency)
        self.graph_residency = graph_residency
        self._built: dict[str, BaseChatModel] = {}
        self._lock = threading.Lock()
        # resolutions without run overrides (a pure function of the levels fixed above)
        self._plain: dict[tuple[str, str | None, bool], Resolved] = {}

    def levels(
        self, node: str, overrides: Mapping[str, ModelChoice], role: str | None = None
    ) -> list[tuple[str, ModelChoice]]:
        """The choices for ``node``, highest priority first, each with the name of its level.

        With a ``role`` (one model of a multi-model agent, such as a reflection agent's
        ``critic``), the choices made for ``"node.role"`` at the node, run and settings levels come
        first, then the node's own.
        """
        levels: list[tuple[str, ModelChoice]] = []
        if role is not None:
            key = f"{node}.{role}"
            levels += [
                ("node", self.nodes.get(key, ModelChoice())),
                ("run", overrides.get(key, ModelChoice())),
                ("settings", self.settings_models.get(key, ModelChoice())),
            ]
        levels += [
            ("node", self.nodes.get(node, ModelChoice())),
            ("run", overrides.get(node, ModelChoice())),
            ("run", overrides.get("*", ModelChoice())),
            ("settings", self.settings_models.get(node, ModelChoice())),
            ("graph", self.graph_default),
            ("settings default", self.settings_default),
        ]
        return [(name, choice) for name, choice in levels if not choice.empty]

    def policies(self, node: str) -> list[Residency]:
        """The residency policies that apply to ``node`` (graph-wide and the node's own)."""
        return [p for p in (self.graph_residency, self.residency.get(node)) if p is not None]

    def resolve(
        self,
        node: str,
        overrides: Mapping[str, ModelChoice] | None = None,
        *,
        role: str | None = None,
        downgrade: bool = False,
    ) -> Resolved:
        """The model ``node`` (or one ``role`` of the agent at ``node``) calls now.

        Raises:
            ConfigError: no level names a model for the node.
            ResidencyViolation: the resolved chain leaves the node's allowed providers.
        """
        if overrides:
            return self._resolve(node, overrides, role, downgrade)
        key = (node, role, downgrade)
        resolved = self._plain.get(key)
        if resolved is None:
            resolved = self._plain[key] = self._resolve(node, {}, role, downgrade)
        return resolved

    def _resolve(
        self, node: str, overrides: Mapping[str, ModelChoice], role: str | None, downgrade: bool
    ) -> Resolved:
        levels = self.levels(node, overrides, role)
        picked = next(((name, c) for name, c in levels if c.model is not None), None)
        if picked is None:
            what = f"node {node!r}" if role is None else f"role {role!r} of node {node!r}"
            raise ConfigError(
                f"{what} of graph {self.graph!r} has no model: set one on the node, a graph default "
                f"(Graph(..., model=...)), THINKGRAPH_MODELS__{node} or THINKGRAPH_DEFAULT_MODEL"
            )
        source, choice = picked
        assert choice.model is not None
        fallbacks = next((c.fallbacks for _, c in levels if c.fallbacks is not None), ())
        timeout = next((c.timeout for _, c in levels if c.timeout is not None), None)
        effort = next((c.reasoning_effort for _, c in levels if c.reasoning_effort is not None), None)
        if isinstance(choice.model, BaseChatModel):
            model = choice.model
            chain = specs_of(model)
            if chain is not None and downgrade:
                model = self._build((cheapest(chain),))
                chain = specs_of(model) or (cheapest(chain),)
        else:
            specs = tuple(_apply(s, timeout, effort) for s in (choice.model, *fallbacks))
            if downgrade:
                specs = (cheapest(specs),)
            model = self._build(specs)
            chain = specs
        self.check_residency(node, chain, runtime=True)
        return Resolved(model=model, chain=chain, source=source)

    def check_residency(self, node: str, chain: tuple[ModelSpec, ...] | None, *, runtime: bool) -> None:
        """Refuse a chain that leaves the node's allowed set.

        Raises:
            ResidencyViolation: at run time, a model of the chain is not allowed (or unknown).
            ConfigError: at compile time, the same.
        """
        from thinkgraph.models._profiles import is_local, provider_of

        error: type[Exception] = ResidencyViolation if runtime else ConfigError
        for policy in self.policies(node):
            if chain is None:
                raise error(
                    f"node {node!r} is restricted to {policy.describe()}, but its model does not say which "
                    "provider it calls; use a model string, a ModelSpec or a thinkgraph ChatModel"
                )
            for spec in chain:
                provider = provider_of(spec.model)
                if not policy.allows(provider, local=is_local(spec)):
                    exc = error(
                        f"node {node!r} may only call {policy.describe()}, but its chain includes "
                        f"{spec.model!r} (provider {provider!r}); "
                        "remove it from the chain or widen the policy"
                    )
                    exc.model = spec.model  # type: ignore[attr-defined]
                    exc.provider = provider  # type: ignore[attr-defined]
                    raise exc

    def check_static(self, node: str, role: str | None = None) -> None:
        """At compile time, refuse a statically known chain that breaks residency."""
        if not self.policies(node):
            return
        try:
            resolved = self.resolve(node, role=role)
        except ResidencyViolation as exc:
            raise ConfigError(str(exc)) from None
        except ConfigError:
            if self.policies(node):
                return  # no model yet: it will be resolved (and checked) at run time
            raise
        del resolved

    def _build(self, specs: tuple[ModelSpec, ...]) -> BaseChatModel:
        key = json.dumps([s.model_dump(mode="json") for s in specs], sort_keys=True)
        with self._lock:
            model = self._built.get(key)
            if model is None:
                from thinkgraph.models import ChatModel

                model = ChatModel(specs[0], fallbacks=list(specs[1:]))
                self._built[key] = model
            return model


def _apply(spec: ModelSpec, timeout: float | None, effort: str | None) -> ModelSpec:
    update: dict[str, Any] = {}
    if timeout is not None and "timeout" not in spec.model_fields_set:
        update["timeout"] = timeout
    if effort is not None and "reasoning_effort" not in spec.model_fields_set:
        update["reasoning_effort"] = effort
    return spec.model_copy(update=update) if update else spec
