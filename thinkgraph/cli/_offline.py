"""Offline demo mode: every model of every node answered by a :class:`FakeProvider` on loopback.

Each model of a node's chain (primary and fallbacks) is redirected to a deployment of the fake
provider that speaks its provider's wire protocol, keeping the model string, so the call still
goes through litellm's real HTTP path: streaming, fallbacks, retries, circuit breakers and prices
behave as they do against the real provider. The redirected spec names an API-key variable that
is never set and points at a loopback address, so the model layer sends a placeholder key and a
real key present in the environment is never sent anywhere.

An offline script maps names to what the deployments answer, in order:

* ``"node"``: the primary model of that node (its own deployment);
* ``"node[i]"``: the i-th model of that node's chain (``[0]`` is the primary, ``[1]`` the first
  fallback) (its own deployment);
* ``"provider/model"``: that model wherever no node-specific key applies, one deployment shared by
  every node (so a failing model opens one circuit breaker, as in production).

A value is a list of :class:`~thinkgraph.testing.Reply`, :class:`~thinkgraph.testing.Fault`,
``str`` or callables taking the :class:`~thinkgraph.testing.FakeRequest` (answered in order, one
per request), one such item, or a mapping ``{"queue": [...], "default": item}`` whose ``default``
answers every request once the queue is used up (a callable default can answer by looking at the
request, which keeps parallel branches deterministic). Unscripted deployments answer with the fake
provider's default reply (an echo of the last user message).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from thinkgraph.cli._errors import fail

if TYPE_CHECKING:
    from thinkgraph.models import ModelSpec
    from thinkgraph.testing import FakeProvider

__all__ = ["OFFLINE_KEY_ENV", "OfflinePlan", "Redirect", "plan_offline", "prepare_offline"]

OFFLINE_KEY_ENV = "THINKGRAPH_OFFLINE_API_KEY"
"""The API-key variable offline specs name; the CLI never sets it, so a placeholder key is sent."""

FALLBACK_MODEL = "openai/gpt-4o-mini"
"""The model offline runs give a node that has none configured anywhere."""

_KEY = re.compile(r"^(?P<node>[^\[\]/]+)\[(?P<index>\d+)\]$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def deployment_name(text: str) -> str:
    """A deployment name (URL-path safe) for a node or model name."""
    return _UNSAFE.sub("_", text).strip("_") or "default"


@dataclass(frozen=True)
class Redirect:
    """Where one model of one node goes offline."""

    node: str
    index: int
    model: str
    provider: str
    deployment: str
    scripted: bool


@dataclass
class OfflinePlan:
    """The redirected chains (by node) and what was scripted where."""

    chains: dict[str, list[ModelSpec]] = field(default_factory=dict)
    redirects: list[Redirect] = field(default_factory=list)
    unused_keys: list[str] = field(default_factory=list)


def _items(value: Any) -> tuple[tuple[Any, ...], Any]:
    """The queued items and the default item of a script value."""
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {"queue", "default"})
        if unknown:
            raise fail(f"an offline script mapping takes 'queue' and 'default', not {', '.join(unknown)}")
        queue = value.get("queue") or ()
        return (tuple(queue) if isinstance(queue, list | tuple) else (queue,)), value.get("default")
    if isinstance(value, list | tuple):
        return tuple(value), None
    return (value,), None


def _check_keys(script: Mapping[str, Any], nodes: Iterable[str]) -> None:
    known = set(nodes)
    for key in script:
        if not isinstance(key, str) or not key:
            raise fail(f"offline script key {key!r} is not a node name, 'node[i]' or 'provider/model'")
        match = _KEY.match(key)
        if match and match["node"] not in known:
            raise fail(
                f"offline script key {key!r} names node {match['node']!r}, which the graph does not have "
                f"(nodes: {', '.join(sorted(known)) or 'none'})"
            )


def plan_offline(
    chains: Mapping[str, Sequence[ModelSpec]],
    script: Mapping[str, Any],
    fake: FakeProvider,
    consumed: Mapping[str, int] | None = None,
) -> OfflinePlan:
    """Redirect every model of every node's chain to ``fake`` and queue the script's items.

    Args:
        chains: each node's chain of specs, primary first.
        script: the offline script (see the module docstring).
        fake: a running fake provider.
        consumed: by deployment, how many scripted items an earlier (paused) part of the run has
            already used; they are skipped so a resumed run continues the script.

    Returns:
        The redirected chains, to pass as run-time model overrides, and where each model went.
    """
    from thinkgraph.models import provider_of

    _check_keys(script, chains)
    plan = OfflinePlan()
    used: set[str] = set()
    queued: set[str] = set()
    for node, chain in chains.items():
        redirected: list[ModelSpec] = []
        for index, spec in enumerate(chain):
            provider = provider_of(spec.model)
            key: str | None = None
            if f"{node}[{index}]" in script:
                key = f"{node}[{index}]"
            elif index == 0 and node in script:
                key = node
            if key is not None:
                deployment = deployment_name(f"{node}.{index}")
            else:
                deployment = deployment_name(spec.model)
                key = spec.model if spec.model in script else None
            if key is not None:
                used.add(key)
                if deployment not in queued:
                    skip = (consumed or {}).get(deployment, 0)
                    items, default = _items(script[key])
                    fake.script(deployment, *items[skip:])
                    if default is not None:
                        fake.set_default(deployment, default)
                    queued.add(deployment)
            redirected.append(
                spec.model_copy(
                    update={"api_base": fake.api_base(deployment, provider), "api_key_env": OFFLINE_KEY_ENV}
                )
            )
            plan.redirects.append(Redirect(node, index, spec.model, provider, deployment, key is not None))
        plan.chains[node] = redirected
    plan.unused_keys = sorted(k for k in script if k not in used)
    return plan


def default_chain() -> list[ModelSpec]:
    """The chain offline runs give nodes without any configured model."""
    from thinkgraph.models import ModelSpec

    return [ModelSpec(model=FALLBACK_MODEL)]


def prepare_offline(graph: Any, fake: FakeProvider, script: Mapping[str, Any] | None = None) -> OfflinePlan:
    """Point every model of ``graph`` (a thinkgraph ``Graph``, before compiling) at ``fake``.

    This is what ``thinkgraph run --offline`` does, for your own programs and services: each
    node's chain is redirected to the fake provider (see the module docstring for ``script``) and
    set on the graph's nodes, so it wins over every other model setting.

    Args:
        graph: the uncompiled graph.
        fake: a running :class:`~thinkgraph.testing.FakeProvider`.
        script: what the deployments answer (an example module's ``OFFLINE_SCRIPT``).

    Returns:
        Where each model of each node was sent.
    """
    from thinkgraph.cli._graphapi import force_models, node_chains

    chains = node_chains(graph)
    known = {
        node: default_chain() if chain is None else chain for node, chain in chains.items() if chain != []
    }
    plan = plan_offline(known, script or {}, fake)
    force_models(graph, plan.chains)
    return plan
