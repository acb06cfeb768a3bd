"""Commands that read the database: ``db upgrade``, ``threads``, ``history``, ``costs``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from thinkgraph.cli._common import DB_HELP, database_url, display_url, out_console, show_database
from thinkgraph.cli._errors import fail, report_errors

__all__ = ["costs_command", "db_upgrade_command", "history_command", "parse_when", "threads_command"]


def parse_when(value: str | None, option: str) -> datetime | None:
    """An ISO date/time (UTC when no zone is given) or a relative age such as ``2h``, ``7d``, ``30m``."""
    if value is None:
        return None
    text = value.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    if len(text) > 1 and text[-1] in units and text[:-1].replace(".", "", 1).isdigit():
        return datetime.now(UTC) - timedelta(seconds=float(text[:-1]) * units[text[-1]])
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise fail(
            f"{option} {value!r} is not a date: use ISO (2025-06-01, 2025-06-01T12:00) "
            "or an age (30m, 12h, 7d)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@report_errors
def db_upgrade_command(
    ctx: typer.Context, db: Annotated[str | None, typer.Option("--db", help=DB_HELP)] = None
) -> None:
    """Bring the database to the newest schema (idempotent; safe with several processes)."""
    from thinkgraph.memory import schema_revision, upgrade

    url = database_url(db)
    show_database(url)
    before = schema_revision(url)
    after = upgrade(url)
    if before == after:
        typer.echo(f"schema already at revision {after}")
    else:
        typer.echo(f"schema upgraded from {before or 'empty'} to revision {after}")


def _fmt_time(value: Any) -> str:
    if isinstance(value, str) and value:
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return str(value) if value is not None else "-"


def _fmt_cost(value: Any, unpriced: Any = 0) -> str:
    text = "-" if value is None else f"{float(value):.6f}"
    return text + (f" +{unpriced} unpriced" if unpriced else "")


@report_errors
def threads_command(
    ctx: typer.Context,
    db: Annotated[str | None, typer.Option("--db", help=DB_HELP)] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Show at most this many threads.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List threads, newest first: runs, last status, cost."""
    from thinkgraph.cli._reading import list_threads

    url = database_url(db)
    show_database(url)
    rows = list_threads(url, limit=limit)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        typer.echo(f"no threads in {display_url(url)} yet; start one with 'thinkgraph run TARGET'")
        return
    from rich.table import Table

    table = Table(title="threads")
    for column in ("thread", "graph", "runs", "last status", "last run", "model calls", "cost USD"):
        table.add_column(column, justify="right" if column in ("runs", "model calls", "cost USD") else "left")
    for row in rows:
        table.add_row(
            str(row["thread_id"]),
            str(row.get("graph") or "-"),
            str(row["runs"]),
            str(row["status"]),
            _fmt_time(row.get("last_started_at")),
            str(row.get("model_calls", 0)),
            _fmt_cost(row.get("cost_usd"), row.get("unpriced_calls")),
        )
    out_console().print(table)


@report_errors
def history_command(
    ctx: typer.Context,
    thread: Annotated[str, typer.Argument(help="The thread.")],
    db: Annotated[str | None, typer.Option("--db", help=DB_HELP)] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="Show at most this many checkpoints.")
    ] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A thread's checkpoints, oldest first: step, node, time, reasoning recorded, cost."""
    from thinkgraph.cli._reading import thread_history

    url = database_url(db)
    show_database(url)
    rows = thread_history(url, thread, limit=limit)
    if not rows:
        raise fail(
            f"thread {thread!r} has no checkpoints in {display_url(url)}; "
            "list threads with 'thinkgraph threads'"
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    from rich.table import Table

    table = Table(title=f"history of thread {thread}")
    for column in ("step", "checkpoint", "node(s)", "time", "next", "model calls", "reasoning", "cost USD"):
        table.add_column(column, justify="right" if column in ("step", "cost USD") else "left")
    for row in rows:
        reasoning = row.get("reasoning") or []
        table.add_row(
            str(row.get("step")),
            str(row["checkpoint_id"])[-12:],
            ", ".join(row.get("nodes") or []) or str(row.get("source") or "-"),
            _fmt_time(row.get("created_at")),
            ", ".join(row.get("next") or []) or "-",
            "\n".join(row.get("calls") or []) or "-",
            "\n".join(reasoning) if reasoning else "-",
            _fmt_cost(row.get("cost_usd"), row.get("unpriced_calls")),
        )
    out_console().print(table)


@report_errors
def costs_command(
    ctx: typer.Context,
    db: Annotated[str | None, typer.Option("--db", help=DB_HELP)] = None,
    by: Annotated[
        str, typer.Option("--by", help="Group by thread, node, provider, model or run.")
    ] = "thread",
    since: Annotated[
        str | None, typer.Option("--since", help="Only calls from this time (ISO, or an age: 7d, 12h).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Only calls before this time (ISO, or an age).")
    ] = None,
    thread: Annotated[str | None, typer.Option("--thread", "-t", help="Only this thread.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """What model calls cost, grouped by thread, node, provider or model."""
    from thinkgraph.cli._reading import GROUPS, cost_rows

    if by not in GROUPS:
        raise fail(f"--by {by!r} is not a grouping; use one of {', '.join(GROUPS)}")
    start, end = parse_when(since, "--since"), parse_when(until, "--until")
    if start is not None and end is not None and start >= end:
        raise fail(f"--since {since!r} is not before --until {until!r}")
    url = database_url(db)
    show_database(url)
    rows = cost_rows(url, by=by, since=start, until=end, thread=thread)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        typer.echo("no model calls recorded" + (" in that period" if start or end else ""))
        return
    from rich.table import Table

    table = Table(title=f"costs by {by}")
    table.add_column(by)
    for column in (
        "calls",
        "attempts",
        "fallbacks",
        "errors",
        "tokens in",
        "tokens out",
        "reasoning",
        "cost USD",
    ):
        table.add_column(column, justify="right")
    total_cost = 0.0
    total_unpriced = 0
    for row in rows:
        total_cost += float(row.get("cost_usd") or 0.0)
        total_unpriced += int(row.get("unpriced_calls") or 0)
        table.add_row(
            str(row["key"] if row["key"] is not None else "-"),
            str(row["calls"]),
            str(row.get("attempts", 0)),
            str(row.get("fallbacks", 0)),
            str(row.get("errors", 0)),
            str(row.get("input_tokens", 0)),
            str(row.get("output_tokens", 0)),
            str(row.get("reasoning_tokens", 0)),
            _fmt_cost(row.get("cost_usd"), row.get("unpriced_calls")),
        )
    table.add_section()
    table.add_row(
        "total",
        str(sum(int(r["calls"]) for r in rows)),
        str(sum(int(r["attempts"]) for r in rows)),
        str(sum(int(r["fallbacks"]) for r in rows)),
        str(sum(int(r["errors"]) for r in rows)),
        str(sum(int(r["input_tokens"]) for r in rows)),
        str(sum(int(r["output_tokens"]) for r in rows)),
        str(sum(int(r["reasoning_tokens"]) for r in rows)),
        _fmt_cost(total_cost, total_unpriced),
    )
    out_console().print(table)
