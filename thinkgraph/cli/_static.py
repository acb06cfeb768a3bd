"""Commands that look at a graph without running it: ``graph`` and ``models check``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, cast

import typer

from thinkgraph.cli._common import out_console, parse_model_overrides
from thinkgraph.cli._errors import EXIT_ERROR, report_errors

__all__ = ["graph_command", "models_check_command"]


@report_errors
def graph_command(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="A .py file, module:attribute, or a YAML graph file.")],
    png: Annotated[
        Path | None,
        typer.Option("--png", help="Also render a PNG with the local Graphviz 'dot' (never a web service)."),
    ] = None,
    dot: Annotated[bool, typer.Option("--dot", help="Print Graphviz DOT instead of Mermaid.")] = False,
    xray: Annotated[
        bool, typer.Option("--xray", help="Also draw the nodes inside agents (subgraphs).")
    ] = False,
) -> None:
    """Print the graph's structure as Mermaid text (or DOT); optionally render a PNG locally."""
    from thinkgraph.cli._draw import drawable_of, render_png, to_dot
    from thinkgraph.cli._target import load_target, split_target

    loaded = load_target(target)
    drawable = drawable_of(loaded.graph, xray=xray)
    location, attribute = split_target(target)
    name = attribute or Path(location).stem.replace(".", "_") or "graph"
    dot_source = to_dot(drawable, name=name)
    if dot:
        typer.echo(dot_source, nl=False)
    else:
        # with node definitions, so nested ids (escaped by LangGraph) show their own names
        typer.echo(drawable.draw_mermaid(), nl=False)
    if png is not None:
        render_png(dot_source, png)
        typer.echo(f"wrote {png}", err=True)


@report_errors
def models_check_command(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="A .py file, module:attribute, or a YAML graph file.")],
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="Override a node's model: NODE=provider/model (repeatable)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the check as JSON.")] = False,
) -> None:
    """Which credentials each node's models need and which are set (values are never printed)."""
    import json

    from rich.table import Table

    from thinkgraph.cli._graphapi import node_chains
    from thinkgraph.cli._target import load_target
    from thinkgraph.models import provider_of, required_credentials

    loaded = load_target(target)
    chains = node_chains(loaded.graph, parse_model_overrides(model))
    rows: list[dict[str, object]] = []
    missing: list[str] = []
    for node, chain in chains.items():
        if not chain:
            what = "no model set" if chain is None else "opaque model"
            rows.append(
                {"node": node, "model": None, "provider": None, "needs": [], "missing": [], "note": what}
            )
            continue
        for index, spec in enumerate(chain):
            needs = required_credentials(spec)
            absent = [name for name in needs if not os.environ.get(name)]
            missing += [name for name in absent if name not in missing]
            rows.append(
                {
                    "node": node,
                    "model": spec.model,
                    "fallback": index > 0,
                    "provider": provider_of(spec.model),
                    "needs": needs,
                    "missing": absent,
                }
            )
    if as_json:
        typer.echo(json.dumps({"nodes": rows, "missing": missing, "ok": not missing}, indent=2))
    else:
        table = Table(title=f"credentials for {target}")
        for column in ("node", "model", "provider", "needs", "status"):
            table.add_column(column)
        for row in rows:
            needs = cast(list[str], row["needs"])
            absent = cast(list[str], row["missing"])
            if row["model"] is None:
                status = f"[yellow]{row['note']}: nothing to check[/]"
            elif not needs:
                status = "[green]none needed (local)[/]"
            elif absent:
                status = "[red]missing " + ", ".join(absent) + "[/]"
            else:
                status = "[green]set[/]"
            label = str(row["model"] or "?") + (" (fallback)" if row.get("fallback") else "")
            table.add_row(
                str(row["node"]), label, str(row["provider"] or "?"), ", ".join(needs) or "-", status
            )
        out_console().print(table)
    if missing:
        typer.echo(
            f"error: missing credentials: set {', '.join(missing)}; or run it offline with --offline",
            err=True,
        )
        raise typer.Exit(EXIT_ERROR)
