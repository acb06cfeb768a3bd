"""One run in progress: turns LangGraph stream parts into thinkgraph events and books tool calls."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage

from thinkgraph.graphs._accounting import Signal
from thinkgraph.graphs._context import RunContext
from thinkgraph.graphs._events import (
    CustomEvent,
    Event,
    NodeFinished,
    NodeStarted,
    TokenDelta,
    ToolCalled,
    ToolReturned,
)

__all__ = ["ToolRecord", "Translator", "top_node"]

_TOOL_OUTCOME_KEY = "thinkgraph_tool"


def top_node(namespace: Sequence[str], fallback: str) -> str:
    """The top-level node of a LangGraph namespace (``("agent:1a2b", "tools:3c4d")`` -> ``"agent"``)."""
    return namespace[0].split(":", 1)[0] if namespace else fallback


@dataclass(frozen=True)
class ToolRecord:
    """A tool call that finished during the run, for the ledger."""

    node: str
    tool: str
    call_id: str
    status: str
    latency_s: float
    error_class: str | None
    approval: str | None


def _messages_of(update: Any) -> list[BaseMessage]:
    if not isinstance(update, Mapping):
        return []
    found: list[BaseMessage] = []
    for value in update.values():
        if isinstance(value, BaseMessage):
            found.append(value)
        elif isinstance(value, list | tuple):
            found.extend(v for v in value if isinstance(v, BaseMessage))
    return found


def _node_messages(namespace: tuple[str, ...], data: Any) -> Iterator[tuple[str, BaseMessage]]:
    """``(top-level node, message)`` for each message in an ``updates`` part's node updates."""
    if not isinstance(data, Mapping):
        return
    for name, update in data.items():
        if str(name).startswith("__"):
            continue
        node = top_node(namespace, str(name))
        for one in update if isinstance(update, list | tuple) else [update]:
            for message in _messages_of(one):
                yield node, message


class Translator:
    """Stateful translation of one run's stream parts (LangGraph ``version="v2"``) into events.

    Tool calls and results are taken from node updates and deduplicated by call id, because a
    subgraph's messages reappear in its parent node's update.

    Attributes:
        values: the graph's state values as last streamed (``values`` mode, top level), if any.
        interrupted: whether the stream showed an interrupt or a breakpoint (at any level).
        tool_records: tool calls seen and not yet booked in the ledger.
    """

    def __init__(self, run: RunContext) -> None:
        self.run = run
        self._calls: set[str] = set()
        self._results: set[str] = set()
        self.tool_records: list[ToolRecord] = []
        self.values: Any = None
        self.interrupted = False

    def _observe(self, kind: str, namespace: tuple[str, ...], data: Any) -> None:
        """Note the state values and interrupts a part shows."""
        if kind == "values":
            if not namespace:
                self.values = data
        elif kind == "updates" and isinstance(data, Mapping) and "__interrupt__" in data:
            self.interrupted = True

    def translate(self, part: Mapping[str, Any]) -> list[Event]:
        """The events one stream part stands for (possibly none)."""
        kind = part["type"]
        namespace: tuple[str, ...] = tuple(part.get("ns") or ())
        data = part["data"]
        self._observe(kind, namespace, data)
        if kind == "tasks":
            return [self._task(namespace, data)]
        if kind == "updates":
            return self._updates(namespace, data)
        if kind == "messages":
            return self._token(namespace, data)
        if kind == "custom":
            if isinstance(data, Signal):
                return [data.event]
            return [self._base(CustomEvent, namespace, top_node(namespace, ""), data=data)]
        return []

    def _base(self, cls: Callable[..., Event], namespace: tuple[str, ...], node: str, **fields: Any) -> Event:
        return cls(
            run_id=self.run.run_id, thread_id=self.run.thread_id, node=node, namespace=namespace, **fields
        )

    def _task(self, namespace: tuple[str, ...], data: Mapping[str, Any]) -> Event:
        name = str(data["name"])
        node = top_node(namespace, name)
        if "input" in data:
            return self._base(NodeStarted, namespace, node, task=name, task_id=str(data["id"]))
        error = data.get("error")
        result = data.get("result")
        return self._base(
            NodeFinished,
            namespace,
            node,
            task=name,
            task_id=str(data["id"]),
            update=dict(result) if isinstance(result, Mapping) else {},
            error=None if error is None else f"{type(error).__name__}: {error}",
        )

    def account(self, part: Mapping[str, Any]) -> None:
        """Book the tool calls one stream part shows, building no events (a run without events)."""
        kind = part["type"]
        namespace: tuple[str, ...] = tuple(part.get("ns") or ())
        self._observe(kind, namespace, part["data"])
        if kind != "updates":
            return
        for node, message in _node_messages(namespace, part["data"]):
            if isinstance(message, ToolMessage):
                self._returned(node, message)

    def _updates(self, namespace: tuple[str, ...], data: Any) -> list[Event]:
        events: list[Event] = []
        for node, message in _node_messages(namespace, data):
            events.extend(self._message(namespace, node, message))
        return events

    def _returned(self, node: str, message: ToolMessage) -> bool:
        """Book a tool result seen for the first time (``False`` when seen before)."""
        if message.tool_call_id in self._results:
            return False
        self._results.add(message.tool_call_id)
        outcome = message.additional_kwargs.get(_TOOL_OUTCOME_KEY)
        if isinstance(outcome, Mapping):
            self.tool_records.append(
                ToolRecord(
                    node=node,
                    tool=str(outcome.get("tool") or message.name or ""),
                    call_id=message.tool_call_id,
                    status=str(outcome.get("status") or message.status),
                    latency_s=float(outcome.get("latency_s") or 0.0),
                    error_class=outcome.get("error_class"),
                    approval=outcome.get("approval"),
                )
            )
        return True

    def _message(self, namespace: tuple[str, ...], node: str, message: BaseMessage) -> list[Event]:
        events: list[Event] = []
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                call_id = call.get("id") or f"{message.id}:{call['name']}"
                if call_id in self._calls:
                    continue
                self._calls.add(call_id)
                events.append(
                    self._base(
                        ToolCalled,
                        namespace,
                        node,
                        name=call["name"],
                        args=dict(call["args"]),
                        call_id=call.get("id"),
                    )
                )
        elif isinstance(message, ToolMessage):
            if not self._returned(node, message):
                return events
            events.append(
                self._base(
                    ToolReturned,
                    namespace,
                    node,
                    name=message.name,
                    call_id=message.tool_call_id,
                    content=message.content,
                    is_error=message.status == "error",
                )
            )
        return events

    def _token(self, namespace: tuple[str, ...], data: Any) -> list[Event]:
        message, metadata = data
        if not isinstance(message, AIMessageChunk):
            return []
        text = message.content if isinstance(message.content, str) else message.text
        if not text:
            return []
        ns = metadata.get("langgraph_checkpoint_ns") if isinstance(metadata, Mapping) else None
        path = tuple(ns.split("|")) if isinstance(ns, str) and ns else namespace
        fallback = metadata.get("langgraph_node", "") if isinstance(metadata, Mapping) else ""
        return [
            self._base(TokenDelta, namespace, top_node(path, str(fallback)), text=text, message_id=message.id)
        ]
