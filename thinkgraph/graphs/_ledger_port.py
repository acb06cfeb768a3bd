"""The runner's view of the ledger: run lifecycle, tool calls, carried-over usage, threads.

Wraps a :class:`thinkgraph.memory.Ledger` (or nothing: every method is then a no-op), mapping
runner outcomes to ledger statuses: completed → ``succeeded``; interrupted → ``interrupted``;
cancelled → ``cancelled``; a budget stop or an error → ``failed`` (with the error text).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from thinkgraph.graphs._context import RunContext, Usage

if TYPE_CHECKING:
    from thinkgraph.graphs._history import ThreadInfo
    from thinkgraph.graphs._session import Translator

__all__ = ["LedgerPort"]

_STATUS = {
    "completed": "succeeded",
    "interrupted": "interrupted",
    "cancelled": "cancelled",
    "budget_exceeded": "failed",
    "failed": "failed",
}
_TOOL_STATUS = {"ToolTimeoutError": "timeout", "ToolApprovalDenied": "denied"}


def _tool_status(status: str, error_class: str | None, approval: str | None) -> str:
    if approval == "rejected":
        return "denied"
    if status == "success":
        return "ok"
    return _TOOL_STATUS.get(error_class or "", "error")


def _error(error: BaseException | None) -> str | None:
    return None if error is None else f"{type(error).__name__}: {error}"


class LedgerPort:
    """Adapter between the runner and a ledger (``None`` disables accounting).

    Attributes:
        ledger: the ledger, or ``None``.
        deferred: model calls are queued in the ledger (``defer_model_call``) rather than written
            at once; the graph's checkpointer (a ``LedgerFlushingSaver``) writes them before each
            checkpoint, and :meth:`aflush` at the end of a run.
    """

    def __init__(self, ledger: Any, *, deferred: bool = False) -> None:
        self.ledger = ledger
        self.deferred = deferred and ledger is not None

    @property
    def enabled(self) -> bool:
        """Whether a ledger is attached."""
        return self.ledger is not None

    # model calls and refusals are recorded by the node proxies through these two

    def record_model_call(self, info: Any, *, node: str, run_id: str, thread_id: str) -> None:
        """Record one model call (queue it when :attr:`deferred`)."""
        if self.deferred:
            self.ledger.defer_model_call(info, run_id=run_id, thread_id=thread_id, node=node)
            return
        self.ledger.record_model_call(info, run_id=run_id, thread_id=thread_id, node=node)

    async def arecord_model_call(self, info: Any, *, node: str, run_id: str, thread_id: str) -> None:
        """Async twin of :meth:`record_model_call`."""
        if self.deferred:
            self.ledger.defer_model_call(info, run_id=run_id, thread_id=thread_id, node=node)
            return
        await self.ledger.arecord_model_call(info, run_id=run_id, thread_id=thread_id, node=node)

    def flush(self) -> None:
        """Write the model calls still queued (when :attr:`deferred`)."""
        if self.deferred:
            self.ledger.flush()

    async def aflush(self) -> None:
        """Async twin of :meth:`flush`."""
        if self.deferred:
            await self.ledger.aflush()

    def record_refusal(self, info: Any, *, node: str, run_id: str, thread_id: str, error_class: str) -> None:
        """Record a model call refused before it was made (residency)."""
        self.ledger.record_model_call(
            info, run_id=run_id, thread_id=thread_id, node=node, error_class=error_class
        )

    async def arecord_refusal(
        self, info: Any, *, node: str, run_id: str, thread_id: str, error_class: str
    ) -> None:
        """Async twin of :meth:`record_refusal`."""
        await self.ledger.arecord_model_call(
            info, run_id=run_id, thread_id=thread_id, node=node, error_class=error_class
        )

    # --- run lifecycle --------------------------------------------------------------------

    def start(self, run: RunContext, graph: str) -> None:
        """Record the start of a run."""
        if self.ledger is not None:
            self.ledger.start_run(run_id=run.run_id, thread_id=run.thread_id, graph=graph)

    async def astart(self, run: RunContext, graph: str) -> None:
        """Async twin of :meth:`start`."""
        if self.ledger is not None:
            await self.ledger.astart_run(run_id=run.run_id, thread_id=run.thread_id, graph=graph)

    def finish(self, run: RunContext, status: str, error: BaseException | None) -> None:
        """Record the end of a run."""
        if self.ledger is not None:
            self.ledger.finish_run(run.run_id, _STATUS[status], error=_error(error))

    async def afinish(self, run: RunContext, status: str, error: BaseException | None) -> None:
        """Async twin of :meth:`finish`."""
        if self.ledger is not None:
            await self.ledger.afinish_run(run.run_id, _STATUS[status], error=_error(error))

    def _tool_kwargs(self, run: RunContext, translator: Translator) -> list[dict[str, Any]]:
        records, translator.tool_records = translator.tool_records, []
        return [
            {
                "tool": r.tool,
                "status": _tool_status(r.status, r.error_class, r.approval),
                "latency_s": r.latency_s,
                "run_id": run.run_id,
                "thread_id": run.thread_id,
                "node": r.node,
                "error_class": r.error_class,
            }
            for r in records
        ]

    def tools(self, run: RunContext, translator: Translator) -> None:
        """Record the tool calls the translator has seen since the last call."""
        if self.ledger is None:
            translator.tool_records.clear()
            return
        for kwargs in self._tool_kwargs(run, translator):
            self.ledger.record_tool_call(**kwargs)

    async def atools(self, run: RunContext, translator: Translator) -> None:
        """Async twin of :meth:`tools`."""
        if not translator.tool_records:
            return
        if self.ledger is None:
            translator.tool_records.clear()
            return
        for kwargs in self._tool_kwargs(run, translator):
            await self.ledger.arecord_tool_call(**kwargs)

    # --- queries --------------------------------------------------------------------------

    def summary(self, run_id: str) -> Any:
        """The ledger's summary of a run (``None`` without a ledger)."""
        return None if self.ledger is None else self.ledger.run_summary(run_id)

    async def asummary(self, run_id: str) -> Any:
        """Async twin of :meth:`summary`."""
        return None if self.ledger is None else await self.ledger.arun_summary(run_id)

    @staticmethod
    def _carried(runs: list[Any], costs: dict[str, Any]) -> Usage | None:
        usage = Usage()
        found = False
        for record in runs:  # newest first
            if record.status == "succeeded":
                break
            found = True
            row = costs.get(record.run_id)
            if row is not None:
                usage.cost_usd += row.cost_usd
                usage.model_calls += row.calls
                usage.unpriced_calls += row.unpriced_calls
            usage.wall_time_s += record.duration_s or 0.0
        return usage if found else None

    def carried_usage(self, thread_id: str) -> Usage | None:
        """Usage of the thread's runs since its last completed one (they are being continued)."""
        if self.ledger is None:
            return None
        runs = self.ledger.runs(thread_id=thread_id)
        costs = {row.run_id: row for row in self.ledger.costs("run", thread_id=thread_id)}
        return self._carried(runs, costs)

    async def acarried_usage(self, thread_id: str) -> Usage | None:
        """Async twin of :meth:`carried_usage`."""
        if self.ledger is None:
            return None
        runs = await self.ledger.aruns(thread_id=thread_id)
        costs = {row.run_id: row for row in await self.ledger.acosts("run", thread_id=thread_id)}
        return self._carried(runs, costs)

    @staticmethod
    def _threads(graph: str, runs: list[Any], costs: dict[str, Any]) -> list[ThreadInfo]:
        from thinkgraph.graphs._history import ThreadInfo

        grouped: dict[str, list[Any]] = {}
        for record in runs:
            if record.graph == graph and record.thread_id is not None:
                grouped.setdefault(record.thread_id, []).append(record)
        infos = []
        for thread_id, records in grouped.items():
            last = max(records, key=lambda r: r.started_at)
            row = costs.get(thread_id)
            infos.append(
                ThreadInfo(
                    thread_id=thread_id,
                    runs=len(records),
                    last_run_id=last.run_id,
                    status=last.status,
                    updated_at=last.started_at,
                    cost_usd=None if row is None else row.cost_usd,
                )
            )
        return sorted(infos, key=lambda t: t.updated_at or 0, reverse=True)

    def threads(self, graph: str) -> list[ThreadInfo]:
        """The graph's threads, from its runs."""
        runs = self.ledger.runs(limit=1_000_000)
        costs = {row.thread_id: row for row in self.ledger.costs("thread")}
        return self._threads(graph, runs, costs)

    async def athreads(self, graph: str) -> list[ThreadInfo]:
        """Async twin of :meth:`threads`."""
        runs = await self.ledger.aruns(limit=1_000_000)
        costs = {row.thread_id: row for row in await self.ledger.acosts("thread")}
        return self._threads(graph, runs, costs)
