"""Run accounting: each model call's cost into the run's totals, the ledger and the event stream."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import BaseMessage
from langgraph.config import get_stream_writer

from thinkgraph.graphs._context import RunContext
from thinkgraph.graphs._events import CostUpdated, ReasoningDelta
from thinkgraph.graphs._resolve import Resolved
from thinkgraph.models._metadata import AttemptInfo, CallInfo, call_info_of, reasoning_of

__all__ = [
    "Signal",
    "aaccount",
    "aaccount_failure",
    "account",
    "account_failure",
    "arecord_refusal",
    "call_info_for",
    "emit",
    "record_refusal",
]


class Signal:
    """A thinkgraph event travelling through LangGraph's ``custom`` stream channel."""

    __slots__ = ("event",)

    def __init__(self, event: Any) -> None:
        self.event = event

    def __repr__(self) -> str:
        return f"Signal({self.event!r})"


def emit(event: Any) -> None:
    """Write ``event`` to the running graph's stream (a no-op outside a node or when not streaming)."""
    try:
        writer = get_stream_writer()
    except (RuntimeError, KeyError):  # not inside a LangGraph run
        return
    writer(Signal(event))


def call_info_for(resolved: Resolved, message: BaseMessage) -> CallInfo:
    """The message's :class:`CallInfo`, or a minimal one for models that do not record it."""
    info = call_info_of(message)
    if info is not None:
        return info
    spec = resolved.chain[0] if resolved.chain else None
    name = spec.model if spec is not None else type(resolved.model).__name__
    usage = getattr(message, "usage_metadata", None) or {}
    return CallInfo(
        requested_model=name,
        model=name,
        provider="unknown" if spec is None else _provider(spec.model),
        attempts=[],
        fallback=False,
        latency_s=0.0,
        input_tokens=int(usage.get("input_tokens", 0)),
        output_tokens=int(usage.get("output_tokens", 0)),
        cached_tokens=0,
        reasoning_tokens=0,
        cost_usd=None,
        unpriced=True,
    )


def _provider(model: str) -> str:
    from thinkgraph.models._profiles import provider_of

    return provider_of(model)


def _book(run: RunContext, node: str, info: CallInfo, message: BaseMessage) -> None:
    """Add the call to the run's totals and stream its cost and reasoning."""
    total = run.add_cost(info["cost_usd"] if not info["unpriced"] else None)
    if not run.events:  # nobody would see them
        return
    reasoning = reasoning_of(message)
    if reasoning is not None and reasoning.get("text"):
        emit(
            ReasoningDelta(
                run_id=run.run_id,
                thread_id=run.thread_id,
                node=node,
                text=reasoning["text"] or "",
                provider=reasoning.get("provider"),
                model=reasoning.get("model"),
            )
        )
    emit(
        CostUpdated(
            run_id=run.run_id,
            thread_id=run.thread_id,
            node=node,
            model=info["model"],
            provider=info["provider"],
            cost_usd=info["cost_usd"],
            total_cost_usd=total,
            model_calls=run.usage.model_calls,
            input_tokens=info["input_tokens"],
            output_tokens=info["output_tokens"],
            unpriced=info["unpriced"],
            fallback=info["fallback"],
        )
    )


def account(run: RunContext | None, node: str, resolved: Resolved, message: BaseMessage) -> None:
    """Book one finished model call (sync path): totals, ledger, events."""
    if run is None:
        return
    info = call_info_for(resolved, message)
    if run.ledger is not None:
        run.ledger.record_model_call(info, node=node, run_id=run.run_id, thread_id=run.thread_id)
    _book(run, node, info, message)


async def aaccount(run: RunContext | None, node: str, resolved: Resolved, message: BaseMessage) -> None:
    """Book one finished model call (async path): totals, ledger, events."""
    if run is None:
        return
    info = call_info_for(resolved, message)
    if run.ledger is not None:
        await run.ledger.arecord_model_call(info, node=node, run_id=run.run_id, thread_id=run.thread_id)
    _book(run, node, info, message)


def _refusal(exc: Exception) -> CallInfo:
    model = str(getattr(exc, "model", "") or "")
    return _unanswered(model, model, str(getattr(exc, "provider", "") or "unknown"), [], 0.0)


def _unanswered(
    requested: str, model: str, provider: str, attempts: list[AttemptInfo], latency_s: float
) -> CallInfo:
    """The ``CallInfo`` of a call that produced no answer: no tokens, no cost."""
    return CallInfo(
        requested_model=requested,
        model=model,
        provider=provider,
        attempts=attempts,
        fallback=False,
        latency_s=latency_s,
        input_tokens=0,
        output_tokens=0,
        cached_tokens=0,
        reasoning_tokens=0,
        cost_usd=0.0,
        unpriced=False,
    )


def record_refusal(run: RunContext | None, node: str, exc: Exception) -> None:
    """Record a call refused by a residency policy (sync)."""
    if run is not None and run.ledger is not None:
        run.ledger.record_refusal(
            _refusal(exc),
            node=node,
            run_id=run.run_id,
            thread_id=run.thread_id,
            error_class=type(exc).__name__,
        )


async def arecord_refusal(run: RunContext | None, node: str, exc: Exception) -> None:
    """Record a call refused by a residency policy (async)."""
    if run is not None and run.ledger is not None:
        await run.ledger.arecord_refusal(
            _refusal(exc),
            node=node,
            run_id=run.run_id,
            thread_id=run.thread_id,
            error_class=type(exc).__name__,
        )


def _failure(resolved: Resolved, exc: BaseException) -> CallInfo:
    attempts = list(getattr(exc, "attempts", ()) or ())
    requested = resolved.chain[0].model if resolved.chain else type(resolved.model).__name__
    last = attempts[-1] if attempts else None
    model = last.model if last is not None else str(getattr(exc, "model", None) or requested)
    provider = last.provider if last is not None else (_provider(model) if resolved.chain else "unknown")
    tried: list[AttemptInfo] = [
        {
            "model": a.model,
            "provider": a.provider,
            "error_class": a.error_class,
            "message": a.message,
            "latency_s": a.latency_s,
            "skipped": a.skipped,
        }
        for a in attempts
    ]
    return _unanswered(requested, model, provider, tried, sum(a.latency_s for a in attempts))


def account_failure(run: RunContext | None, node: str, resolved: Resolved, exc: BaseException) -> None:
    """Record a model call that failed (every model of its chain, or a request error)."""
    if run is not None and run.ledger is not None:
        run.ledger.record_refusal(
            _failure(resolved, exc),
            node=node,
            run_id=run.run_id,
            thread_id=run.thread_id,
            error_class=type(exc).__name__,
        )


async def aaccount_failure(run: RunContext | None, node: str, resolved: Resolved, exc: BaseException) -> None:
    """Async twin of :func:`account_failure`."""
    if run is not None and run.ledger is not None:
        await run.ledger.arecord_refusal(
            _failure(resolved, exc),
            node=node,
            run_id=run.run_id,
            thread_id=run.thread_id,
            error_class=type(exc).__name__,
        )
