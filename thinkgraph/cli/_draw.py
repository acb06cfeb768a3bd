"""Drawing a graph: Mermaid text, and DOT rendered to PNG by a local Graphviz ``dot``.

LangGraph's own PNG rendering calls a web service by default; thinkgraph never does. The graph's
structure (nodes, edges, conditional edges) is converted to DOT here and handed to ``dot``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from thinkgraph.cli._errors import fail

__all__ = ["drawable_of", "render_png", "to_dot"]

_START, _END = "__start__", "__end__"


def drawable_of(obj: Any, *, xray: bool = False) -> Any:
    """The drawable structure (a langchain-core ``Graph``) of a graph, builder or compiled graph.

    With ``xray`` the nodes inside subgraphs (agents) are drawn too.
    """
    method = getattr(obj, "get_graph", None)
    if callable(method):
        drawable = method(xray=xray)
        if hasattr(drawable, "nodes") and hasattr(drawable, "edges"):
            return drawable
    state_graph = getattr(obj, "state_graph", None)  # a thinkgraph Graph: draw its LangGraph structure
    if state_graph is not None and callable(getattr(state_graph, "compile", None)):
        return state_graph.compile().get_graph(xray=xray)
    if callable(getattr(obj, "compile", None)):  # a LangGraph StateGraph
        return obj.compile().get_graph(xray=xray)
    raise fail(f"cannot draw a {type(obj).__name__}: it has no graph structure (get_graph)")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _label(node: Any) -> str:
    name = str(getattr(node, "name", None) or getattr(node, "id", ""))
    return {_START: "start", _END: "end"}.get(name, name)


def to_dot(drawable: Any, *, name: str = "thinkgraph") -> str:
    """The DOT source for a drawable graph (nodes with ``id``/``name``; edges with ``source``/``target``).

    Conditional edges are dashed; edge data (a condition's value) becomes the edge label.
    """
    lines = [
        f"digraph {_quote(name)} {{",
        "  rankdir=TB;",
        '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    nodes = drawable.nodes
    for node_id, node in nodes.items():
        attrs = [f"label={_quote(_label(node))}"]
        if node_id in (_START, _END):
            attrs.append('shape=oval, fillcolor="#dddddd"')
        lines.append(f"  {_quote(str(node_id))} [{', '.join(attrs)}];")
    for edge in drawable.edges:
        attrs = []
        if getattr(edge, "conditional", False):
            attrs.append("style=dashed")
        data = getattr(edge, "data", None)
        if data is not None and str(data) not in ("", str(edge.target)):
            attrs.append(f"label={_quote(str(data))}")
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f"  {_quote(str(edge.source))} -> {_quote(str(edge.target))}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_png(dot_source: str, out: Path, *, dot_binary: str | None = None) -> Path:
    """Render ``dot_source`` to ``out`` with the local Graphviz ``dot`` program.

    Raises:
        CliError: ``dot`` is not installed or failed.
    """
    binary = dot_binary or shutil.which("dot")
    if binary is None:
        raise fail(
            "Graphviz 'dot' is not installed, so no PNG can be drawn locally; install graphviz "
            "(apt install graphviz / brew install graphviz) or use the Mermaid text"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run(
            [binary, "-Tpng", "-o", str(out)],
            input=dot_source,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise fail(f"running {binary!r} failed: {exc}") from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise fail(f"{binary!r} failed (exit {result.returncode}): {detail[-1] if detail else 'no output'}")
    return out
