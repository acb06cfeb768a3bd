"""``CompiledGraph``: run, stream, resume, cancel; threads, history and forks (sync and async)."""

from __future__ import annotations

import asyncio
import functools
import threading
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphDrained
from langgraph.types import Command

from thinkgraph.exceptions import BudgetExceeded, ConfigError, RunCancelled
from thinkgraph.graphs._context import RunContext, Usage
from thinkgraph.graphs._events import Event, RunFinished, RunInterrupted
from thinkgraph.graphs._history import HistoryMixin
from thinkgraph.graphs._ledger_port import LedgerPort
from thinkgraph.graphs._persistence import Persistence
from thinkgraph.graphs._policies import Budget
from thinkgraph.graphs._resolve import ModelChoice, ModelLike, Resolver
from thinkgraph.graphs._session import Translator

__all__ = ["CompiledGraph", "RunResult"]

_STREAM_MODES = ("tasks", "updates", "custom", "values")
# what a run needs for itself: tool calls are read from node updates, its output from the values
_LEAN_MODES = ("updates", "values")


@dataclass(frozen=True)
class RunResult:
    """How a run ended.

    Attributes:
        run_id: the run's id.
        thread_id: the thread it worked on.
        status: ``"completed"`` or ``"interrupted"`` (waiting for :meth:`CompiledGraph.resume`).
        output: the thread's state values when the run ended.
        interrupts: ``(interrupt id, value)`` pairs when interrupted.
        summary: the run's accounting (the ledger's ``RunSummary``, queried when read; ``None``
            without a ledger or for an interrupted run).
        events: with ``run(..., events=True)`` every event the run streamed (as :meth:`~CompiledGraph.stream`
            yields them); otherwise only the last one (:class:`RunFinished` or :class:`RunInterrupted`).
    """

    run_id: str
    thread_id: str
    status: Literal["completed", "interrupted"]
    output: dict[str, Any]
    interrupts: tuple[tuple[str, Any], ...] = ()
    summarize: Callable[[], Any] | None = field(default=None, repr=False, compare=False)
    events: list[Event] = field(default_factory=list, repr=False)

    @property
    def summary(self) -> Any:
        """The ledger's ``RunSummary`` of the run (totals, by node, by provider, unpriced calls)."""
        return None if self.summarize is None else self.summarize()


def _resume_value(thread_id: str, snapshot: Any, value: Any) -> Any:
    if not snapshot.interrupts:
        return None
    if value is None:
        raise ConfigError(
            f"thread {thread_id!r} is waiting on interrupt {snapshot.interrupts[0].value!r}; "
            "pass the answer: resume(thread_id, value)"
        )
    return value


def _run_options(
    *,
    thread_id: str | None = None,
    run_id: str | None = None,
    resume: Any = None,
    models: Mapping[str, ModelLike | ModelChoice] | None = None,
    budget: Budget | Mapping[str, Any] | None = None,
    config: RunnableConfig | None = None,
    tokens: bool = False,
) -> tuple[Any, ...]:
    """The options of a run without events, in :meth:`CompiledGraph._arun_events`'s order
    (``tokens`` is accepted and ignored: nothing streams them)."""
    return (thread_id, run_id, resume, models, budget, config)


class CompiledGraph(HistoryMixin):
    """A compiled thinkgraph graph: LangGraph's compiled graph plus models, policies and accounting.

    One instance serves any number of concurrent runs (threads of its own or in one event loop):
    per-run state lives in each run's config, the chat models, checkpointer, store and ledger are
    shared.

    Attributes:
        graph: the LangGraph ``CompiledStateGraph`` (usable directly; runs made that way skip
            budgets and run accounting but still resolve node models).
        name: the graph's name.
        resolver: resolves each node's model.
        budget: the default limits of each run.
    """

    def __init__(
        self,
        graph: Any,
        *,
        name: str,
        resolver: Resolver,
        persistence: Persistence,
        budget: Budget | None = None,
        nested: bool | None = None,
        deferred: bool = False,
    ) -> None:
        self.graph = graph
        self.name = name
        self.resolver = resolver
        self.persistence = persistence
        self.budget = budget
        self.ledger = LedgerPort(persistence.ledger, deferred=deferred)
        self._active: dict[str, RunContext] = {}
        self._lock = threading.Lock()
        self._nested = nested if nested is not None else any(True for _ in graph.get_subgraphs())
        """Whether a node may run a subgraph (whose updates a run without events must still see)."""

    # --- LangGraph pass-through -----------------------------------------------------------

    @property
    def checkpointer(self) -> Any:
        """The LangGraph checkpointer."""
        return self.persistence.checkpointer

    @property
    def store(self) -> Any:
        """The LangGraph store."""
        return self.persistence.store

    def get_graph(self, *, xray: bool | int = False) -> Any:
        """LangGraph's drawable graph (``.draw_mermaid()``)."""
        return self.graph.get_graph(xray=xray)

    def close(self) -> None:
        """Close the database engines this graph opened."""
        self.persistence.close()

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        await self.persistence.aclose()

    # --- run setup ------------------------------------------------------------------------

    def _context(
        self,
        thread_id: str | None,
        run_id: str | None,
        models: Mapping[str, ModelLike | ModelChoice] | None,
        budget: Budget | Mapping[str, Any] | None,
        carried: Usage | None,
        events: bool = True,
    ) -> RunContext:
        if isinstance(budget, Mapping):
            budget = Budget.model_validate(dict(budget))
        return RunContext(
            run_id=run_id or uuid.uuid4().hex,
            thread_id=thread_id or uuid.uuid4().hex,
            graph=self.name,
            overrides={name: ModelChoice.of(value) for name, value in (models or {}).items()},
            budget=budget if budget is not None else self.budget,
            ledger=self.ledger if self.ledger.enabled else None,
            resolver=self.resolver,
            usage=carried or Usage(),
            events=events,
        )

    def _register(self, run: RunContext) -> None:
        with self._lock:
            self._active[run.run_id] = run

    def _unregister(self, run: RunContext) -> None:
        with self._lock:
            self._active.pop(run.run_id, None)

    def _summarizer(self, run_id: str) -> Callable[[], Any] | None:
        return functools.partial(self.ledger.summary, run_id) if self.ledger.enabled else None

    def summary(self, run_id: str) -> Any:
        """The ledger's ``RunSummary`` of a run: totals by node and provider, unpriced calls flagged.

        Returns ``None`` when the graph has no ledger.
        """
        return self.ledger.summary(run_id)

    async def asummary(self, run_id: str) -> Any:
        """Async twin of :meth:`summary`."""
        return await self.ledger.asummary(run_id)

    def cancel(self, run_or_thread_id: str) -> bool:
        """Ask a running run (by run id or thread id) to stop at its next step boundary.

        The run raises :class:`~thinkgraph.exceptions.RunCancelled`; its last checkpoint is kept,
        so the thread can be resumed later. Safe to call from any thread.

        Returns:
            ``True`` when a running run was found.
        """
        with self._lock:
            runs = [r for r in self._active.values() if run_or_thread_id in (r.run_id, r.thread_id)]
        for run in runs:
            run.control.request_drain("cancelled")
        return bool(runs)

    def running(self) -> list[str]:
        """Ids of the runs in progress."""
        with self._lock:
            return list(self._active)

    @staticmethod
    def _input(input: Any, resume: Any, resuming: bool) -> Any:
        if resume is not None:
            return Command(resume=resume)
        return None if resuming else input

    @staticmethod
    def _wall_limited(run: RunContext) -> bool:
        """Whether the run stops at a wall-time limit (checked between steps)."""
        return (
            run.budget is not None
            and run.budget.max_wall_time_s is not None
            and run.budget.on_exceed == "stop"
        )

    def _wall_check(self, run: RunContext) -> None:
        if not self._wall_limited(run) or run.budget is None or run.budget.max_wall_time_s is None:
            return
        if run.breach is None and run.wall_time_s() >= run.budget.max_wall_time_s:
            run.breach = ("wall_time_s", run.budget.max_wall_time_s, run.wall_time_s())
            run.control.request_drain("budget")

    def _stopped(self, run: RunContext) -> Exception:
        if run.breach is not None:
            limit, maximum, used = run.breach
            return BudgetExceeded(limit, maximum, used, thread_id=run.thread_id)
        return RunCancelled(
            f"run {run.run_id!r} on thread {run.thread_id!r} was cancelled; its state is saved"
        )

    @staticmethod
    def _status(exc: BaseException) -> str:
        if isinstance(exc, BudgetExceeded):
            return "budget_exceeded"
        if isinstance(exc, RunCancelled | GraphDrained | asyncio.CancelledError | GeneratorExit):
            return "cancelled"
        return "failed"

    def _stream_options(self, run: RunContext, tokens: bool) -> dict[str, Any]:
        """LangGraph's stream options: every mode when events are wanted; else only what the
        run's own accounting needs (node updates, from subgraphs too when there may be any).

        Streaming custom data, tokens or subgraphs makes LangGraph wait on its stream at every
        step besides the tasks, which costs more than a small step itself. Without that wait,
        LangGraph runs a step's single task inline and hands over its update only once the next
        step has begun; a run with a wall-time limit needs each task's end as it happens (to stop
        before the next step), so it keeps the wait.
        """
        if not run.events:
            timed = self._wall_limited(run)
            return {
                "stream_mode": ["tasks", *_LEAN_MODES] if timed else list(_LEAN_MODES),
                "subgraphs": self._nested or timed,
                "version": "v2",
                "control": run.control,
            }
        modes = [*_STREAM_MODES, "messages"] if tokens else list(_STREAM_MODES)
        return {"stream_mode": modes, "subgraphs": True, "version": "v2", "control": run.control}

    def _finished(self, run: RunContext, translator: Translator) -> RunFinished | None:
        """The last event of a run that ended without an interrupt, from the streamed state values
        (``None`` when the stream cannot tell: the thread's state must be read then).

        The last top-level ``values`` part is the state the run's last checkpoint holds; only a
        plain mapping is taken (LangGraph turns it into the output schema's type for pydantic
        and dataclass states, and the state read back is a dict).
        """
        if translator.interrupted or not isinstance(translator.values, dict):
            return None
        return RunFinished(
            run_id=run.run_id,
            thread_id=run.thread_id,
            output=dict(translator.values),
            summarize=self._summarizer(run.run_id),
        )

    def _last_event(self, run: RunContext, snapshot: Any) -> RunInterrupted | RunFinished:
        """The event that ends a run, from the thread's state after it."""
        interrupts = tuple((i.id, i.value) for i in snapshot.interrupts)
        if interrupts or snapshot.next:  # an interrupt() or a breakpoint (interrupt_before/after)
            return RunInterrupted(
                run_id=run.run_id,
                thread_id=run.thread_id,
                interrupts=interrupts,
                output=dict(snapshot.values),
            )
        return RunFinished(
            run_id=run.run_id,
            thread_id=run.thread_id,
            output=dict(snapshot.values),
            summarize=self._summarizer(run.run_id),
        )

    # --- async ----------------------------------------------------------------------------

    async def astream(
        self,
        input: Any = None,
        *,
        thread_id: str | None = None,
        run_id: str | None = None,
        resume: Any = None,
        models: Mapping[str, ModelLike | ModelChoice] | None = None,
        budget: Budget | Mapping[str, Any] | None = None,
        config: RunnableConfig | None = None,
        tokens: bool = True,
    ) -> AsyncIterator[Event]:
        """Run the graph and yield typed events as they happen.

        Args:
            input: the graph's input; ``None`` continues the thread from its last checkpoint.
            thread_id: the thread (a new one when omitted).
            run_id: the run's id (generated when omitted).
            resume: a value for a pending ``interrupt()``; sent as ``Command(resume=...)``.
            models: run-time model overrides by node name (``"*"``: every node without its own).
            budget: this run's limits (default: the graph's).
            config: extra LangGraph config (``recursion_limit``, ``tags``, ``configurable`` ...).
            tokens: stream token deltas (makes models stream their answers).

        Yields:
            :class:`NodeStarted`, :class:`TokenDelta`, :class:`ToolCalled`, :class:`ToolReturned`,
            :class:`ReasoningDelta`, :class:`CostUpdated`, :class:`NodeFinished` ... and finally
            :class:`RunFinished` or :class:`RunInterrupted`.

        Raises:
            BudgetExceeded: the run reached a limit; its state is saved.
            RunCancelled: :meth:`cancel` was called; its state is saved.
        """
        events = self._arun_events(
            input, thread_id, run_id, resume, models, budget, config, tokens=tokens, events=True
        )
        try:
            async for event in events:
                yield event
        finally:  # a consumer that stops early ends the run now, not when it is collected
            await events.aclose()

    async def _arun_events(
        self,
        input: Any,
        thread_id: str | None,
        run_id: str | None,
        resume: Any,
        models: Mapping[str, ModelLike | ModelChoice] | None,
        budget: Budget | Mapping[str, Any] | None,
        config: RunnableConfig | None,
        *,
        tokens: bool,
        events: bool,
    ) -> AsyncGenerator[Event, None]:
        """The run behind :meth:`astream` (``events``) and :meth:`arun` (without events only the last)."""
        resuming = input is None or resume is not None
        carried = await self.ledger.acarried_usage(thread_id) if resuming and thread_id else None
        run = self._context(thread_id, run_id, models, budget, carried, events)
        translator = Translator(run)
        run_config = run.config(config)
        await self.ledger.astart(run, self.name)
        self._register(run)
        status = "failed"
        error: BaseException | None = None
        try:
            try:
                async for part in self.graph.astream(
                    self._input(input, resume, resuming), run_config, **self._stream_options(run, tokens)
                ):
                    if events:
                        for event in translator.translate(part):
                            yield event
                    else:
                        translator.account(part)
                    if translator.tool_records:
                        await self.ledger.atools(run, translator)
                    self._wall_check(run)
            except GraphDrained:
                raise self._stopped(run) from None
            await self.ledger.atools(run, translator)
            await self.ledger.aflush()
            last = self._finished(run, translator) or self._last_event(
                run, await self.graph.aget_state(run_config)
            )
            if isinstance(last, RunInterrupted):
                status = "interrupted"
            else:
                status = "completed"
                await self.ledger.afinish(run, status, None)
            yield last
        except BaseException as exc:
            if status == "failed":  # a consumer that stops after the last event changes nothing
                status, error = self._status(exc), exc
            raise
        finally:
            self._unregister(run)
            if status != "completed":
                await self.ledger.aflush()
                await self.ledger.afinish(run, status, error)

    async def arun(self, input: Any = None, *, events: bool = False, **kwargs: Any) -> RunResult:
        """Run to completion or interrupt; same arguments as :meth:`astream` (``tokens`` defaults off).

        Without ``events`` the run builds no events but the last: it asks LangGraph only for node
        updates (of subgraphs too when a node may run one), which is all its accounting needs, and
        its ledger records are the same as when streamed.

        Args:
            input: the graph's input (see :meth:`astream`).
            events: keep every event in :attr:`RunResult.events` (costs some time per step).
            **kwargs: the other arguments of :meth:`astream`.

        Raises:
            BudgetExceeded: the run reached a limit; its state is saved.
            RunCancelled: :meth:`cancel` was called; its state is saved.
        """
        kwargs.setdefault("tokens", False)
        if events:
            return self._result([event async for event in self.astream(input, **kwargs)])
        options = _run_options(**kwargs)
        collected = [event async for event in self._arun_events(input, *options, tokens=False, events=False)]
        return self._result(collected)

    async def aresume(self, thread_id: str, value: Any = None, **kwargs: Any) -> RunResult:
        """Continue a thread: answer its pending interrupt with ``value`` or, when nothing is
        pending, re-run from its last checkpoint (after a crash, a cancel or a budget stop).

        Other keyword arguments are those of :meth:`astream` (``budget=`` a higher budget ...).
        """
        snapshot = await self.graph.aget_state({"configurable": {"thread_id": thread_id}})
        resume = _resume_value(thread_id, snapshot, value)
        return await self.arun(None, thread_id=thread_id, resume=resume, **kwargs)

    @staticmethod
    def _result(events: list[Event]) -> RunResult:
        last = events[-1]
        if isinstance(last, RunInterrupted):
            return RunResult(
                run_id=last.run_id,
                thread_id=last.thread_id,
                status="interrupted",
                output=last.output,
                interrupts=last.interrupts,
                events=events,
            )
        assert isinstance(last, RunFinished)
        return RunResult(
            run_id=last.run_id,
            thread_id=last.thread_id,
            status="completed",
            output=last.output,
            summarize=last.summarize,
            events=events,
        )

    # --- sync -----------------------------------------------------------------------------

    def stream(
        self,
        input: Any = None,
        *,
        thread_id: str | None = None,
        run_id: str | None = None,
        resume: Any = None,
        models: Mapping[str, ModelLike | ModelChoice] | None = None,
        budget: Budget | Mapping[str, Any] | None = None,
        config: RunnableConfig | None = None,
        tokens: bool = True,
    ) -> Iterator[Event]:
        """Sync twin of :meth:`astream` (runs LangGraph's sync loop; nodes may be sync or async)."""
        yield from self._run_events(
            input, thread_id, run_id, resume, models, budget, config, tokens=tokens, events=True
        )

    def _run_events(
        self,
        input: Any,
        thread_id: str | None,
        run_id: str | None,
        resume: Any,
        models: Mapping[str, ModelLike | ModelChoice] | None,
        budget: Budget | Mapping[str, Any] | None,
        config: RunnableConfig | None,
        *,
        tokens: bool,
        events: bool,
    ) -> Iterator[Event]:
        """Sync twin of :meth:`_arun_events`."""
        resuming = input is None or resume is not None
        carried = self.ledger.carried_usage(thread_id) if resuming and thread_id else None
        run = self._context(thread_id, run_id, models, budget, carried, events)
        translator = Translator(run)
        run_config = run.config(config)
        self.ledger.start(run, self.name)
        self._register(run)
        status = "failed"
        error: BaseException | None = None
        try:
            try:
                for part in self.graph.stream(
                    self._input(input, resume, resuming), run_config, **self._stream_options(run, tokens)
                ):
                    if events:
                        yield from translator.translate(part)
                    else:
                        translator.account(part)
                    if translator.tool_records:
                        self.ledger.tools(run, translator)
                    self._wall_check(run)
            except GraphDrained:
                raise self._stopped(run) from None
            self.ledger.tools(run, translator)
            self.ledger.flush()
            last = self._finished(run, translator) or self._last_event(run, self.graph.get_state(run_config))
            if isinstance(last, RunInterrupted):
                status = "interrupted"
            else:
                status = "completed"
                self.ledger.finish(run, status, None)
            yield last
        except BaseException as exc:
            if status == "failed":  # a consumer that stops after the last event changes nothing
                status, error = self._status(exc), exc
            raise
        finally:
            self._unregister(run)
            if status != "completed":
                self.ledger.flush()
                self.ledger.finish(run, status, error)

    def run(self, input: Any = None, *, events: bool = False, **kwargs: Any) -> RunResult:
        """Sync twin of :meth:`arun`."""
        kwargs.setdefault("tokens", False)
        if events:
            return self._result(list(self.stream(input, **kwargs)))
        options = _run_options(**kwargs)
        return self._result(list(self._run_events(input, *options, tokens=False, events=False)))

    def resume(self, thread_id: str, value: Any = None, **kwargs: Any) -> RunResult:
        """Sync twin of :meth:`aresume`."""
        snapshot = self.graph.get_state({"configurable": {"thread_id": thread_id}})
        resume = _resume_value(thread_id, snapshot, value)
        return self.run(None, thread_id=thread_id, resume=resume, **kwargs)
