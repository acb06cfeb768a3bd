"""Reading threads, checkpoint history and costs from a database (the checkpointer and the ledger).

These need no graph: everything comes from the tables, so ``thinkgraph history`` works on any
thread in the database, whichever program ran it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from thinkgraph.memory import Ledger

__all__ = ["GROUPS", "cost_rows", "list_threads", "thread_history"]

GROUPS = ("thread", "node", "provider", "model", "run")
_GROUP_FIELDS = {
    "thread": "thread_id",
    "node": "node",
    "provider": "provider",
    "model": "model",
    "run": "run_id",
}
_ALL_RUNS = 100_000


def _migrated(url: str) -> bool:
    from thinkgraph.memory import schema_revision

    return schema_revision(url) is not None


@contextmanager
def _ledger(url: str) -> Iterator[Ledger]:
    from thinkgraph.memory import Ledger

    ledger = Ledger(url)
    try:
        ledger.setup()
        yield ledger
    finally:
        ledger.close()


def _aware(moment: Any) -> datetime | None:
    if isinstance(moment, datetime):
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    if isinstance(moment, str) and moment:
        try:
            return _aware(datetime.fromisoformat(moment))
        except ValueError:
            return None
    return None


def list_threads(url: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """Threads with runs in the ledger, most recently started first."""
    if not _migrated(url):
        return []
    with _ledger(url) as ledger:
        runs = ledger.runs(limit=_ALL_RUNS)
        costs = {row.thread_id: row for row in ledger.costs("thread")}
    threads: dict[str, dict[str, Any]] = {}
    for run in runs:  # newest first
        if run.thread_id is None:
            continue
        entry = threads.get(run.thread_id)
        if entry is None:
            cost = costs.get(run.thread_id)
            entry = threads[run.thread_id] = {
                "thread_id": run.thread_id,
                "graph": run.graph,
                "runs": 0,
                "status": run.status,
                "last_run_id": run.run_id,
                "last_started_at": run.started_at.isoformat(),
                "first_started_at": run.started_at.isoformat(),
                "model_calls": cost.calls if cost else 0,
                "cost_usd": round(cost.cost_usd, 8) if cost else 0.0,
                "unpriced_calls": cost.unpriced_calls if cost else 0,
            }
        entry["runs"] += 1
        entry["first_started_at"] = run.started_at.isoformat()
        if len(threads) > limit:
            break
    return list(threads.values())[:limit]


def _triggered(checkpoint: Mapping[str, Any]) -> list[str]:
    """Nodes the checkpoint will run next: a written ``branch:to:X`` channel newer than what X has seen."""
    versions = checkpoint.get("channel_versions") or {}
    seen = checkpoint.get("versions_seen") or {}
    values = checkpoint.get("channel_values") or {}
    found = []
    for channel, version in versions.items():
        if not isinstance(channel, str) or not channel.startswith("branch:to:") or channel not in values:
            continue  # consumed triggers are empty, so they are absent from the values
        node = channel.removeprefix("branch:to:")
        before = (seen.get(node) or {}).get(channel)
        if before is None or str(version) > str(before):
            found.append(node)
    return sorted(found)


def _ran(checkpoint: Mapping[str, Any], parent: Mapping[str, Any] | None) -> list[str]:
    """Nodes whose step produced this checkpoint (what they had seen changed since the parent)."""
    seen = checkpoint.get("versions_seen") or {}
    before = (parent or {}).get("versions_seen") or {}
    return sorted(
        "input" if node == "__start__" else str(node)
        for node, versions in seen.items()
        if (node == "__start__" or not str(node).startswith("__")) and versions != before.get(node)
    )


def _reasoning(messages: Any, known: set[str]) -> list[str]:
    from langchain_core.messages import BaseMessage

    from thinkgraph.models import reasoning_of

    lines: list[str] = []
    if not isinstance(messages, list):
        return lines
    for message in messages:
        if not isinstance(message, BaseMessage):
            continue
        key = message.id or str(id(message))
        if key in known:
            continue
        known.add(key)
        reasoning = reasoning_of(message)
        if reasoning is None:
            continue
        provider, model = str(reasoning.get("provider") or "?"), str(reasoning.get("model") or "?")
        who = model if model.startswith(provider + "/") else f"{provider}/{model}"
        text = " ".join((reasoning.get("text") or "").split())
        blocks = reasoning.get("blocks") or []
        if text:
            lines.append(f"{who}: {text[:80]}{'…' if len(text) > 80 else ''}")
        elif blocks:
            lines.append(f"{who}: {len(blocks)} signed block(s)")
    return lines


def _grouped(lines: list[str]) -> list[str]:
    """Identical lines once each, in order, with ``×n`` when repeated."""
    counts: dict[str, int] = {}
    for line in lines:
        counts[line] = counts.get(line, 0) + 1
    return [line if n == 1 else f"{line} ×{n}" for line, n in counts.items()]


def _describe_call(call: Any) -> str:
    notes = []
    if call.fallback:
        notes.append(f"fallback from {call.requested_model}")
    if call.attempts > 1:
        notes.append(f"{call.attempts} attempts")
    if call.error_class:
        notes.append(f"failed: {call.error_class}")
    return f"{call.node or '?'}: {call.model}" + (f" ({', '.join(notes)})" if notes else "")


def _trace_lines(traces: Any, seen: set[tuple[Any, ...]]) -> list[tuple[datetime | None, str]]:
    """Reasoning recorded by agents as ``ReasoningTrace`` entries (native reasoning or a written thought)."""
    lines: list[tuple[datetime | None, str]] = []
    if not isinstance(traces, list):
        return lines
    for trace in traces:
        if not isinstance(trace, Mapping) or not trace.get("reasoning"):
            continue
        key = (trace.get("node"), trace.get("label"), trace.get("at"))
        if key in seen:
            continue
        seen.add(key)
        at = trace.get("at")
        when = datetime.fromtimestamp(float(at), UTC) if isinstance(at, int | float) else None
        where = str(trace.get("node")) + (f" {trace['label']}" if trace.get("label") else "")
        kind = "" if trace.get("reasoning_source") == "native" else " (thought)"
        text = " ".join(str(trace["reasoning"]).split())
        model = trace.get("model") or "?"
        lines.append((when, f"{where}: {model}{kind}: {text[:80]}{'…' if len(text) > 80 else ''}"))
    return lines


def thread_history(url: str, thread: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """The thread's top-level checkpoints, oldest first, each with its nodes, reasoning and cost.

    Reasoning is gathered from every namespace (agents' subgraphs included): the answers' own
    reasoning and the agents' reasoning traces, each shown at the top-level step it happened in.
    """
    if not _migrated(url):
        return []
    from thinkgraph.memory import SQLCheckpointer

    saver = SQLCheckpointer(url)
    try:
        everything = list(saver.list({"configurable": {"thread_id": thread}}))
    finally:
        saver.close()
    roots = [t for t in everything if not t.config["configurable"].get("checkpoint_ns")][:limit]
    roots.reverse()
    with _ledger(url) as ledger:
        calls = list(ledger.model_calls(thread_id=thread))
    notes: list[tuple[datetime | None, str]] = []
    seen_messages: set[str] = set()
    seen_traces: set[tuple[Any, ...]] = set()
    for item in sorted(everything, key=lambda t: str(t.checkpoint.get("ts") or "")):
        moment = _aware(item.checkpoint.get("ts"))
        values = item.checkpoint.get("channel_values") or {}
        notes += [(moment, line) for line in _reasoning(values.get("messages"), seen_messages)]
        notes += [(when or moment, line) for when, line in _trace_lines(values.get("traces"), seen_traces)]
    rows: list[dict[str, Any]] = []
    parent: Mapping[str, Any] | None = None
    previous_ts: datetime | None = None
    for item in roots:
        checkpoint = item.checkpoint
        metadata = item.metadata or {}
        ts = _aware(checkpoint.get("ts"))

        def inside(
            moment: datetime | None, ts: datetime | None = ts, start: datetime | None = previous_ts
        ) -> bool:
            if moment is None:
                return False
            return (start is None or moment > start) and (ts is None or moment <= ts)

        mine = [c for c in calls if inside(_aware(c.created_at))]
        rows.append(
            {
                "checkpoint_id": item.config["configurable"]["checkpoint_id"],
                "step": metadata.get("step"),
                "source": metadata.get("source"),
                "run_id": metadata.get("thinkgraph_run_id") or metadata.get("run_id"),
                "created_at": ts.isoformat() if ts else None,
                "nodes": _ran(checkpoint, parent),
                "next": _triggered(checkpoint),
                "reasoning": [line for moment, line in notes if inside(moment)],
                "model_calls": len(mine),
                "calls": _grouped([_describe_call(c) for c in mine]),
                "cost_usd": round(sum(c.cost_usd or 0.0 for c in mine), 8),
                "unpriced_calls": sum(1 for c in mine if c.unpriced),
            }
        )
        parent = checkpoint
        previous_ts = ts or previous_ts
    return rows


def cost_rows(
    url: str,
    *,
    by: str,
    since: datetime | None = None,
    until: datetime | None = None,
    thread: str | None = None,
) -> list[dict[str, Any]]:
    """Model-call totals grouped ``by`` thread, node, provider, model or run, costliest first."""
    if not _migrated(url):
        return []
    with _ledger(url) as ledger:
        rows = ledger.costs(by, since=since, until=until, thread_id=thread)  # type: ignore[arg-type]
        calls = ledger.model_calls(thread_id=thread, since=since, until=until)
    field = _GROUP_FIELDS[by]
    fallbacks: dict[Any, int] = {}
    attempts: dict[Any, int] = {}
    for call in calls:
        key = getattr(call, field)
        fallbacks[key] = fallbacks.get(key, 0) + int(call.fallback)
        attempts[key] = attempts.get(key, 0) + call.attempts
    found = [
        {
            "key": getattr(row, field),
            "calls": row.calls,
            "attempts": attempts.get(getattr(row, field), row.calls),
            "fallbacks": fallbacks.get(getattr(row, field), 0),
            "errors": row.errors,
            "input_tokens": row.input_tokens,
            "output_tokens": row.output_tokens,
            "cached_tokens": row.cached_tokens,
            "reasoning_tokens": row.reasoning_tokens,
            "cost_usd": round(row.cost_usd, 8),
            "unpriced_calls": row.unpriced_calls,
        }
        for row in rows
    ]
    found.sort(key=lambda r: (-float(r["cost_usd"]), -int(r["calls"]), str(r["key"])))
    return found
