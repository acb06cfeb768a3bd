"""The tool executor: runs a model's tool calls safely inside any LangGraph graph on a messages state.

Two ways to put it in a graph:

* **one task per call** (crash-safe; recommended): ``executor.dispatch("tools")`` as the conditional
  edge after the model node sends each pending tool call to ``executor.task_node()`` with
  ``langgraph.types.Send``. Each call is its own LangGraph task, so its result is checkpointed as its
  own pending write: after a crash, resuming the thread re-runs only the calls without a result.
* **one node for all calls**: ``executor.node()`` runs every pending call concurrently in one node.
  Simpler, but a crash mid-node re-runs the whole batch.

Either way: each call runs under its timeout and the concurrency limit; an exception, a timeout,
arguments that fail validation or an unknown tool name become a ``ToolMessage`` with
``status="error"`` the model can act on; tools that require approval pause the run with
``interrupt()`` and resume with ``Command(resume=...)``. The outcome of every call is recorded on its
message under ``additional_kwargs["thinkgraph_tool"]`` (see :class:`ToolOutcome`).

Approvals: with one task per call, every call needing approval raises its own interrupt in the
same step; resume them together with ``Command(resume={interrupt.id: decision, ...})`` (a single
pending approval also takes a bare ``Command(resume=decision)``). With the single node, the
approvals are asked one after another, before any call runs. Decisions: :func:`approve`,
:func:`reject` (the model gets an error result with the reason), :func:`edit` (run with new
arguments), or ``True``/``False``.

Timeouts: an ``async`` tool is cancelled when it overruns; a sync tool runs in a worker thread that
Python cannot stop, so its result is abandoned (and the thread finishes in the background). Give
sync tools their own internal time limits where they can block for long.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypedDict, cast

from langchain_core.messages import AIMessage, AnyMessage, ToolCall, ToolMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.tools import BaseTool
from langgraph.errors import GraphBubbleUp
from langgraph.graph import END
from langgraph.types import Send, interrupt
from pydantic import ValidationError

from thinkgraph.exceptions import ConfigError, ToolApprovalDenied, ToolInputError, ToolTimeoutError
from thinkgraph.tools._approval import ApprovalRequest, parse_decision
from thinkgraph.tools._decorator import tool_requires_approval, tool_timeout

__all__ = ["TOOL_OUTCOME_KEY", "ToolCallTask", "ToolExecutor", "ToolOutcome", "tool_outcome_of"]

TOOL_OUTCOME_KEY = "thinkgraph_tool"


class ToolOutcome(TypedDict):
    """What happened to one tool call (kept on its ``ToolMessage`` for the ledger)."""

    tool: str
    tool_call_id: str
    status: Literal["success", "error"]
    latency_s: float
    error_class: str | None
    approval: Literal["approved", "edited", "rejected"] | None


class ToolCallTask(TypedDict):
    """The payload ``dispatch`` sends to the task node: one tool call."""

    tool_call: ToolCall


def tool_outcome_of(message: AnyMessage) -> ToolOutcome | None:
    """The :class:`ToolOutcome` recorded on a ``ToolMessage``, if the executor produced it."""
    value: Any = message.additional_kwargs.get(TOOL_OUTCOME_KEY)
    return cast(ToolOutcome, value) if isinstance(value, dict) else None


def _format_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "arguments"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


class ToolExecutor:
    """Runs tool calls from the last ``AIMessage`` of a messages state.

    Args:
        tools: the tools the model may call (any langchain-core ``BaseTool``; ``@tool`` options
            ``timeout`` and ``requires_approval`` are honoured).
        max_concurrency: at most this many calls run at once (per event loop / per executor for
            sync runs).
        default_timeout: seconds for tools that set no timeout of their own (``None``: no limit).
        messages_key: the state key holding the messages.
    """

    def __init__(
        self,
        tools: Sequence[BaseTool],
        *,
        max_concurrency: int = 8,
        default_timeout: float | None = None,
        messages_key: str = "messages",
    ) -> None:
        if max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be at least 1, got {max_concurrency!r}")
        if default_timeout is not None and not default_timeout > 0:
            raise ConfigError(f"default_timeout must be positive seconds, got {default_timeout!r}")
        self.tools: dict[str, BaseTool] = {}
        for t in tools:
            if t.name in self.tools:
                raise ConfigError(f"two tools are named {t.name!r}: tool names must be unique")
            self.tools[t.name] = t
        self.max_concurrency = max_concurrency
        self.default_timeout = default_timeout
        self.messages_key = messages_key
        self._thread_slots = threading.BoundedSemaphore(max_concurrency)
        self._loop_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    # --- reading the state ------------------------------------------------------------

    def pending_calls(self, state: Mapping[str, Any]) -> list[ToolCall]:
        """Tool calls of the last ``AIMessage`` that have no ``ToolMessage`` answer yet."""
        messages: Sequence[AnyMessage] = state.get(self.messages_key) or []
        for index in range(len(messages) - 1, -1, -1):
            message = messages[index]
            if isinstance(message, AIMessage):
                answered = {m.tool_call_id for m in messages[index + 1 :] if isinstance(m, ToolMessage)}
                return [c for c in message.tool_calls if c.get("id") not in answered]
        return []

    def dispatch(
        self, node: str = "tools", *, otherwise: str = END
    ) -> Callable[[Mapping[str, Any]], list[Send] | str]:
        """A conditional-edge function: one ``Send(node, ToolCallTask)`` per pending call.

        Args:
            node: the name under which :meth:`task_node` was added.
            otherwise: where to go when there is no pending call.
        """

        def route(state: Mapping[str, Any]) -> list[Send] | str:
            calls = self.pending_calls(state)
            if not calls:
                return otherwise
            return [Send(node, ToolCallTask(tool_call=call)) for call in calls]

        return route

    # --- graph nodes -------------------------------------------------------------------

    def task_node(self) -> Runnable[Any, dict[str, Any]]:
        """A node that runs the one tool call sent to it (sync and async)."""
        return RunnableLambda(self._run_task, afunc=self._arun_task, name="tool_call")

    def node(self) -> Runnable[Any, dict[str, Any]]:
        """A node that runs every pending call of the state at once (sync and async)."""
        return RunnableLambda(self._run_all, afunc=self._arun_all, name="tools")

    def _run_task(self, task: ToolCallTask, config: RunnableConfig) -> dict[str, Any]:
        call, args, approval, denied = self._approve(task["tool_call"])
        message = denied or self.invoke_call(call, args=args, approval=approval, config=config)
        return {self.messages_key: [message]}

    async def _arun_task(self, task: ToolCallTask, config: RunnableConfig) -> dict[str, Any]:
        call, args, approval, denied = self._approve(task["tool_call"])
        message = denied or await self.ainvoke_call(call, args=args, approval=approval, config=config)
        return {self.messages_key: [message]}

    def _run_all(self, state: Mapping[str, Any], config: RunnableConfig) -> dict[str, Any]:
        decided = [self._approve(call) for call in self.pending_calls(state)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            futures = [
                None
                if denied
                else pool.submit(self.invoke_call, call, args=args, approval=approval, config=config)
                for call, args, approval, denied in decided
            ]
            out = [
                denied or cast(concurrent.futures.Future[ToolMessage], fut).result()
                for (_, _, _, denied), fut in zip(decided, futures, strict=True)
            ]
        return {self.messages_key: out}

    async def _arun_all(self, state: Mapping[str, Any], config: RunnableConfig) -> dict[str, Any]:
        decided = [self._approve(call) for call in self.pending_calls(state)]

        async def one(
            call: ToolCall, args: dict[str, Any], approval: str | None, denied: ToolMessage | None
        ) -> ToolMessage:
            return denied or await self.ainvoke_call(call, args=args, approval=approval, config=config)

        out = await asyncio.gather(*(one(*d) for d in decided))
        return {self.messages_key: list(out)}

    # --- approvals ---------------------------------------------------------------------

    def _approve(self, call: ToolCall) -> tuple[ToolCall, dict[str, Any], str | None, ToolMessage | None]:
        """Ask a human when the tool requires it; returns (call, args, approval, rejection message)."""
        args = dict(call.get("args") or {})
        found = self.tools.get(call["name"])
        if found is None or not tool_requires_approval(found):
            return call, args, None, None
        request = ApprovalRequest(
            type="tool_approval", tool=call["name"], args=args, tool_call_id=call.get("id") or ""
        )
        decision = parse_decision(interrupt(request))
        if decision.action == "reject":
            reason = f": {decision.reason}" if decision.reason else ""
            error = ToolApprovalDenied(f"a human rejected this call of {call['name']!r}{reason}")
            content = f"Error: {error}. Do not repeat the same call; change the approach or ask the user."
            return call, args, "rejected", self._message(call, content, "error", 0.0, error, "rejected")
        if decision.action == "edit":
            return call, dict(decision.args or {}), "edited", None
        return call, args, "approved", None

    # --- running one call --------------------------------------------------------------

    def _timeout_for(self, found: BaseTool) -> float | None:
        own = tool_timeout(found)
        return own if own is not None else self.default_timeout

    def _loop_semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        slots = self._loop_slots.get(loop)
        if slots is None:
            slots = self._loop_slots[loop] = asyncio.Semaphore(self.max_concurrency)
        return slots

    def _message(
        self,
        call: ToolCall,
        content: Any,
        status: Literal["success", "error"],
        latency: float,
        error: BaseException | None,
        approval: str | None,
        artifact: Any = None,
    ) -> ToolMessage:
        outcome = ToolOutcome(
            tool=call["name"],
            tool_call_id=call.get("id") or "",
            status=status,
            latency_s=latency,
            error_class=type(error).__name__ if error is not None else None,
            approval=cast(Any, approval),
        )
        return ToolMessage(
            content=content,
            tool_call_id=call.get("id") or "",
            name=call["name"],
            status=status,
            artifact=artifact,
            additional_kwargs={TOOL_OUTCOME_KEY: outcome},
        )

    def _unknown(self, call: ToolCall) -> ToolMessage:
        known = ", ".join(sorted(self.tools)) or "(none)"
        error = ToolInputError(f"unknown tool {call['name']!r}; the available tools are: {known}")
        return self._message(call, f"Error: {error}. Call one of those.", "error", 0.0, error, None)

    def _error_message(
        self, call: ToolCall, exc: BaseException, latency: float, approval: str | None
    ) -> ToolMessage:
        error: BaseException
        if isinstance(exc, ValidationError):
            error = ToolInputError(f"invalid arguments for {call['name']!r}: {_format_validation(exc)}")
            hint = "Fix the arguments to match the tool's schema and call it again."
        elif isinstance(exc, ToolTimeoutError):
            error, hint = exc, "Try a smaller request or a different approach."
        else:
            error, hint = exc, "Fix the arguments or try a different approach."
        content = f"Error: {type(error).__name__}: {error}. {hint}"
        return self._message(call, content, "error", latency, error, approval)

    def _overran(self, call: ToolCall, timeout: float | None) -> ToolTimeoutError:
        return ToolTimeoutError(f"tool {call['name']!r} did not finish within {timeout:g} s")

    def _finish(self, call: ToolCall, result: Any, latency: float, approval: str | None) -> ToolMessage:
        if isinstance(result, ToolMessage):
            status: Literal["success", "error"] = "error" if result.status == "error" else "success"
            return self._message(
                call, result.content, status, latency, None, approval, artifact=result.artifact
            )
        return self._message(
            call, result if isinstance(result, str) else str(result), "success", latency, None, approval
        )

    def invoke_call(
        self,
        call: ToolCall,
        *,
        args: dict[str, Any] | None = None,
        approval: str | None = None,
        config: RunnableConfig | None = None,
    ) -> ToolMessage:
        """Run one call synchronously (no approval step) and return its ``ToolMessage``."""
        found = self.tools.get(call["name"])
        if found is None:
            return self._unknown(call)
        timeout = self._timeout_for(found)
        payload = _tool_call(call, args)
        start = time.perf_counter()
        with self._thread_slots:
            pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
            try:
                future = pool.submit(found.invoke, payload, config)
                finished, _ = concurrent.futures.wait([future], timeout=timeout)
                if not finished:
                    raise self._overran(call, timeout)
                result = future.result()
            except GraphBubbleUp:
                raise
            except Exception as exc:
                return self._error_message(call, exc, time.perf_counter() - start, approval)
            finally:
                pool.shutdown(wait=False)
        return self._finish(call, result, time.perf_counter() - start, approval)

    async def ainvoke_call(
        self,
        call: ToolCall,
        *,
        args: dict[str, Any] | None = None,
        approval: str | None = None,
        config: RunnableConfig | None = None,
    ) -> ToolMessage:
        """Run one call asynchronously (no approval step) and return its ``ToolMessage``."""
        found = self.tools.get(call["name"])
        if found is None:
            return self._unknown(call)
        timeout = self._timeout_for(found)
        payload = _tool_call(call, args)
        start = time.perf_counter()
        async with self._loop_semaphore():
            task = asyncio.ensure_future(found.ainvoke(payload, config))
            try:
                finished, _ = await asyncio.wait({task}, timeout=timeout)
                if not finished:
                    task.cancel()
                    raise self._overran(call, timeout)
                result = task.result()
            except GraphBubbleUp:
                raise
            except Exception as exc:
                return self._error_message(call, exc, time.perf_counter() - start, approval)
            finally:
                if not task.done():  # cancelled from outside: do not leave the tool running
                    task.cancel()
        return self._finish(call, result, time.perf_counter() - start, approval)


def _tool_call(call: ToolCall, args: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "type": "tool_call",
        "name": call["name"],
        "args": dict(call.get("args") or {}) if args is None else args,
        "id": call.get("id") or "",
    }
