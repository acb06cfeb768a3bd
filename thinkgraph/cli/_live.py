"""What ``thinkgraph run`` shows while a graph runs, and the summary table at the end.

On a terminal a rich ``Live`` display shows each node as it starts and finishes, the tokens the
current model is streaming, tool calls, the model and provider that answered each call, fallbacks
and the running cost. Elsewhere (a pipe, a CI log) the same facts are printed one line each.
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.markup import escape as e

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live
    from rich.table import Table

__all__ = ["NodeStats", "RunView", "short"]

_ACTIVITY_LINES = 8
_STREAM_TAIL = 600


def short(value: Any, limit: int = 120) -> str:
    """A one-line preview of ``value``."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, default=str, ensure_ascii=False, sort_keys=True)
        except (TypeError, ValueError):
            text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class NodeStats:
    """What one node did in the run (accumulated from events)."""

    node: str
    status: str = ""
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0
    calls: int = 0
    models: list[str] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unpriced: int = 0
    fallbacks: int = 0
    tools: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used by ``--json``."""
        return {
            "node": self.node,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "model_calls": self.calls,
            "models": list(self.models),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost_usd, 8),
            "unpriced_calls": self.unpriced,
            "fallbacks": self.fallbacks,
            "tool_calls": self.tools,
        }


class RunView:
    """Consumes a run's events; renders them live (terminal) or as lines (elsewhere), or not at all.

    Args:
        console: where to render.
        live: use a rich ``Live`` display (only on a terminal).
        quiet: render nothing (``--json``); the stats are still collected.
        offline: a description of the fake provider when the run is offline.
    """

    def __init__(
        self, console: Console, *, live: bool, quiet: bool = False, offline: str | None = None
    ) -> None:
        self.console = console
        self.live_enabled = live and not quiet
        self.quiet = quiet
        self.offline = offline
        self.nodes: dict[str, NodeStats] = {}
        self.total_cost = 0.0
        self.model_calls = 0
        self.unpriced_calls = 0
        self.run_id: str | None = None
        self.thread_id: str | None = None
        self.streaming = ""
        self.streaming_node: str | None = None
        self.activity: deque[str] = deque(maxlen=_ACTIVITY_LINES)
        self._seen_calls: set[str] = set()
        self._seen_results: set[str] = set()
        self.started = time.monotonic()
        self._live: Live | None = None
        self._announced = False

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start (or restart, after a prompt) the live display."""
        if self.offline and not self.quiet and self._live is None and not self._announced:
            self._announced = True
            self.console.print(f"[bold yellow]OFFLINE[/] {self.offline}")
        if self.live_enabled and self._live is None:
            from rich.live import Live

            self._live = Live(self._render(), console=self.console, refresh_per_second=8, transient=True)
            self._live.start()

    def stop(self) -> None:
        """Stop the live display (before prompting, and at the end)."""
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __enter__(self) -> RunView:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- events ---------------------------------------------------------------------------

    def _node(self, name: str) -> NodeStats:
        stats = self.nodes.get(name)
        if stats is None:
            stats = self.nodes[name] = NodeStats(name)
        return stats

    def _say(self, line: str) -> None:
        """Log one fact: above the live display on a terminal (it scrolls), as a line elsewhere."""
        self.activity.append(line)
        if not self.quiet:
            self.console.print(line)

    def handle(self, event: Any) -> None:
        """Take one run event (any :data:`thinkgraph.graphs.Event`)."""
        kind = getattr(event, "kind", None)
        self.run_id = getattr(event, "run_id", None) or self.run_id
        self.thread_id = getattr(event, "thread_id", None) or self.thread_id
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(event)
        if self._live is not None:
            self._live.update(self._render())

    def _on_node_started(self, event: Any) -> None:
        if event.namespace:
            return
        stats = self._node(event.node)
        stats.status, stats.started = "running", time.monotonic()
        self._say(f"[cyan]▶[/] {e(event.node)} started")

    def _on_node_finished(self, event: Any) -> None:
        if event.namespace:
            return
        stats = self._node(event.node)
        stats.seconds += time.monotonic() - stats.started
        stats.status = "failed" if event.error else "done"
        for line in _attempt_lines(event.update):
            self._say(f"[yellow]↪[/] {e(event.node)}: {e(line)}")
        if event.error:
            self._say(f"[red]✗[/] {e(event.node)} failed: {e(short(event.error))}")
        else:
            self._say(f"[green]✓[/] {e(event.node)} finished in {stats.seconds:.2f}s")
        if self.streaming_node == event.node:
            self.streaming, self.streaming_node = "", None

    def _on_token(self, event: Any) -> None:
        if self.streaming_node != event.node:
            self.streaming, self.streaming_node = "", event.node
        self.streaming = (self.streaming + event.text)[-_STREAM_TAIL:]

    def _on_reasoning(self, event: Any) -> None:
        if self.streaming_node != event.node:
            self.streaming, self.streaming_node = "", event.node
        self.streaming = (self.streaming + event.text)[-_STREAM_TAIL:]
        if not self.live_enabled:
            who = f" ({event.model})" if event.model else ""
            self._say(f"[dim]… {e(event.node)} reasoning{e(who)}: {e(short(event.text, 140))}[/]")

    def _on_tool_call(self, event: Any) -> None:
        if event.call_id:  # a resumed run re-reports the calls of the subgraph it continues
            if event.call_id in self._seen_calls:
                return
            self._seen_calls.add(event.call_id)
        self._node(event.node).tools += 1
        self._say(f"[magenta]→[/] {e(event.node)} calls {e(event.name)}({e(short(event.args, 80))})")

    def _on_tool_result(self, event: Any) -> None:
        if event.call_id:
            if event.call_id in self._seen_results:
                return
            self._seen_results.add(event.call_id)
        mark = "[red]←✗[/]" if event.is_error else "[magenta]←[/]"
        self._say(f"{mark} {e(event.name or 'tool')}: {e(short(event.content, 100))}")

    def _on_cost(self, event: Any) -> None:
        stats = self._node(event.node)
        stats.calls += 1
        label = f"{event.model} ({event.provider})"
        if label not in stats.models:
            stats.models.append(label)
        stats.input_tokens += event.input_tokens
        stats.output_tokens += event.output_tokens
        if event.cost_usd is None:
            stats.unpriced += 1
            self.unpriced_calls += 1
        else:
            stats.cost_usd += event.cost_usd
        if event.fallback:
            stats.fallbacks += 1
        self.total_cost = event.total_cost_usd
        self.model_calls = event.model_calls
        cost = "unpriced" if event.cost_usd is None else f"${event.cost_usd:.6f}"
        via = " [yellow](fallback)[/]" if event.fallback else ""
        self._say(
            f"[blue]$[/] {e(event.node)} answered by {e(event.model)} {e('[' + event.provider + ']')}{via}: "
            f"{event.input_tokens} in / {event.output_tokens} out, {cost} "
            f"(run total ${event.total_cost_usd:.6f})"
        )

    def _on_run_interrupted(self, event: Any) -> None:
        self._say(f"[yellow]⏸[/] paused: {len(event.interrupts)} decision(s) needed")

    # --- rendering ------------------------------------------------------------------------

    def _render(self) -> RenderableType:
        from rich.console import Group
        from rich.panel import Panel
        from rich.text import Text

        parts: list[RenderableType] = []
        header = Text()
        if self.offline:
            header.append(" OFFLINE ", style="bold black on yellow")
            header.append(" ")
        header.append(f"thread {self.thread_id or '…'}  run {self.run_id or '…'}", style="dim")
        parts.append(header)
        parts.append(self.table(live=True))
        if self.streaming:
            parts.append(
                Panel(
                    Text(self.streaming[-_STREAM_TAIL:]), title=f"{self.streaming_node} streaming", height=8
                )
            )
        return Group(*parts)

    def table(self, *, live: bool = False) -> Table:
        """The per-node table: models and providers, calls, tokens, cost, time."""
        from rich.table import Table

        title = "running" if live else "summary" + (" (offline)" if self.offline else "")
        table = Table(title=title, title_justify="left")
        table.add_column("node")
        table.add_column("status")
        table.add_column("model (provider)")
        table.add_column("calls", justify="right")
        table.add_column("tokens in/out", justify="right")
        table.add_column("cost USD", justify="right")
        table.add_column("time", justify="right")
        now = time.monotonic()
        for stats in self.nodes.values():
            seconds = stats.seconds + (now - stats.started if stats.status == "running" else 0.0)
            cost = f"{stats.cost_usd:.6f}" + (f" +{stats.unpriced} unpriced" if stats.unpriced else "")
            models = "\n".join(stats.models) or "-"
            if stats.fallbacks:
                models += f"\n({stats.fallbacks} fallback)"
            table.add_row(
                stats.node,
                stats.status or "(model)",
                models,
                str(stats.calls),
                f"{stats.input_tokens}/{stats.output_tokens}",
                cost,
                f"{seconds:.2f}s" if stats.status else "-",
            )
        total_in = sum(s.input_tokens for s in self.nodes.values())
        total_out = sum(s.output_tokens for s in self.nodes.values())
        unpriced = f" +{self.unpriced_calls} unpriced" if self.unpriced_calls else ""
        table.add_section()
        table.add_row(
            "total",
            "",
            "",
            str(self.model_calls),
            f"{total_in}/{total_out}",
            f"{self.total_cost:.6f}{unpriced}",
            f"{now - self.started:.2f}s",
        )
        return table

    def summary(self) -> dict[str, Any]:
        """The run's accounting as JSON data."""
        return {
            "nodes": [s.as_dict() for s in self.nodes.values()],
            "model_calls": self.model_calls,
            "cost_usd": round(self.total_cost, 8),
            "unpriced_calls": self.unpriced_calls,
            "seconds": round(time.monotonic() - self.started, 3),
        }


def _attempt_lines(update: Any) -> list[str]:
    """Failed attempts (retries, fallbacks, skipped models) recorded on the messages a node wrote."""
    from thinkgraph.models import call_info_of

    lines: list[str] = []
    for message in _messages_in(update):
        info = call_info_of(message)
        if info is None:
            continue
        for attempt in info.get("attempts", []):
            if attempt.get("error_class") is None:
                continue
            what = "skipped (circuit open)" if attempt.get("skipped") else attempt["error_class"]
            lines.append(f"{attempt['model']} [{attempt['provider']}] {what}")
        if info.get("fallback"):
            lines.append(f"fell over to {info['model']} [{info['provider']}]")
    return lines


def _messages_in(value: Any, depth: int = 0) -> list[Any]:
    from langchain_core.messages import BaseMessage

    if depth > 4:
        return []
    if isinstance(value, BaseMessage):
        return [value]
    if isinstance(value, dict):
        return [m for v in value.values() for m in _messages_in(v, depth + 1)]
    if isinstance(value, list | tuple):
        return [m for v in value for m in _messages_in(v, depth + 1)]
    return []
