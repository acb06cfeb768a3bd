"""thinkgraph: reasoning agents on LangGraph, each node on its own model provider.

Importing this package is cheap: it loads neither litellm nor LangGraph and touches no
network. Heavy names are imported on first attribute access.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from thinkgraph import exceptions
from thinkgraph._settings import Settings, load_settings
from thinkgraph._version import __version__

__all__ = [
    "Budget",
    "CompiledGraph",
    "Graph",
    "NodeModel",
    "Residency",
    "RunResult",
    "Settings",
    "__version__",
    "exceptions",
    "load_graph",
    "load_settings",
]

# Public names defined in subpackages, loaded lazily: name -> module.
_LAZY: dict[str, str] = {
    "Budget": "thinkgraph.graphs",
    "CompiledGraph": "thinkgraph.graphs",
    "Graph": "thinkgraph.graphs",
    "NodeModel": "thinkgraph.graphs",
    "Residency": "thinkgraph.graphs",
    "RunResult": "thinkgraph.graphs",
    "load_graph": "thinkgraph.graphs",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'thinkgraph' has no attribute {name!r}")
    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    return sorted({*__all__, *_LAZY})
