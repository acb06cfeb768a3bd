"""Threads, checkpoint history (who wrote what, reasoning, cost) and forks of a compiled graph."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig

from thinkgraph.exceptions import ConfigError
from thinkgraph.graphs._context import RUN_ID_KEY
from thinkgraph.models._metadata import Reasoning, call_info_of, reasoning_of

if TYPE_CHECKING:
    from thinkgraph.graphs._ledger_port import LedgerPort

__all__ = ["ChannelChange", "HistoryEntry", "HistoryMixin", "ThreadInfo"]


@dataclass(frozen=True)
class ChannelChange:
    """How one state channel changed at a checkpoint.

    Attributes:
        before: the value at the parent checkpoint (``None`` when absent).
        after: the value at this checkpoint.
        added: for list channels that only grew (messages), the items appended.
    """

    before: Any
    after: Any
    added: tuple[Any, ...] = ()


@dataclass(frozen=True)
class HistoryEntry:
    """One checkpoint of a thread, oldest first in :meth:`CompiledGraph.history`.

    Attributes:
        checkpoint_id: LangGraph's checkpoint id (pass it to :meth:`CompiledGraph.fork`).
        parent_id: the previous checkpoint's id.
        step: LangGraph's step number (``-1`` for the input checkpoint).
        source: ``"input"``, ``"loop"``, ``"update"`` or ``"fork"``.
        created_at: when the checkpoint was written.
        run_id: the thinkgraph run that wrote it.
        nodes: the nodes whose writes this checkpoint holds (``("__start__",)`` for the input).
        next: the nodes due to run next.
        changes: what changed, by channel.
        reasoning: reasoning recorded on the model answers written here.
        cost_usd: priced cost of the model answers written here.
        model_calls: model answers written here (with thinkgraph call records).
        unpriced_calls: how many of them have no known price.
        values: the full state at this checkpoint.
    """

    checkpoint_id: str
    parent_id: str | None
    step: int
    source: str
    created_at: datetime | None
    run_id: str | None
    nodes: tuple[str, ...]
    next: tuple[str, ...]
    changes: dict[str, ChannelChange]
    reasoning: tuple[Reasoning, ...] = ()
    cost_usd: float = 0.0
    model_calls: int = 0
    unpriced_calls: int = 0
    values: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class ThreadInfo:
    """A thread of a graph and its latest run.

    Attributes:
        thread_id: the thread's id.
        runs: how many runs worked on it.
        last_run_id: its most recent run.
        status: that run's status.
        updated_at: when that run started.
        cost_usd: priced cost of every run on the thread.
    """

    thread_id: str
    runs: int
    last_run_id: str | None
    status: str | None
    updated_at: datetime | None
    cost_usd: float | None = None


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, ChannelChange]:
    changes: dict[str, ChannelChange] = {}
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old is new or old == new:
            continue
        added: tuple[Any, ...] = ()
        if isinstance(new, list):
            prior = old if isinstance(old, list) else []
            if new[: len(prior)] == prior:
                added = tuple(new[len(prior) :])
        changes[key] = ChannelChange(before=old, after=new, added=added)
    return changes


def _ledger_costs(
    calls: Sequence[Any], nodes: tuple[str, ...], start: datetime | None, end: datetime | None
) -> tuple[float, int, int]:
    cost, count, unpriced = 0.0, 0, 0
    for call in calls:
        if call.node not in nodes or end is None or call.created_at > end:
            continue
        if start is not None and call.created_at <= start:
            continue
        count += 1
        if call.unpriced or call.cost_usd is None:
            unpriced += 1
        else:
            cost += call.cost_usd
    return cost, count, unpriced


def _entry(snapshot: Any, parent: Any | None, calls: Sequence[Any] | None = None) -> HistoryEntry:
    metadata = snapshot.metadata or {}
    source = str(metadata.get("source", "loop"))
    before = dict(parent.values) if parent is not None and isinstance(parent.values, dict) else {}
    after = dict(snapshot.values) if isinstance(snapshot.values, dict) else {}
    changes = _diff(before, after)
    if source == "input":
        nodes: tuple[str, ...] = ("__start__",)
    elif source == "loop" and parent is not None:
        nodes = tuple(t.name for t in parent.tasks)
    else:
        nodes = (f"__{source}__",)
    reasoning: list[Reasoning] = []
    cost, count, unpriced = 0.0, 0, 0
    for change in changes.values():
        for item in change.added:
            if not isinstance(item, AIMessage):
                continue
            found = reasoning_of(item)
            if found is not None:
                reasoning.append(found)
            info = call_info_of(item)
            if info is not None:
                count += 1
                if info["unpriced"] or info["cost_usd"] is None:
                    unpriced += 1
                else:
                    cost += info["cost_usd"]
    configurable = snapshot.config.get("configurable", {})
    parent_cfg = (snapshot.parent_config or {}).get("configurable", {})
    created_at = _parse_time(snapshot.created_at)
    if calls is not None:  # the ledger knows every call, also those whose answer is not in the state
        start = _parse_time(parent.created_at) if parent is not None else None
        cost, count, unpriced = _ledger_costs(calls, nodes, start, created_at)
    return HistoryEntry(
        checkpoint_id=str(configurable.get("checkpoint_id")),
        parent_id=parent_cfg.get("checkpoint_id"),
        step=int(metadata.get("step", -1)),
        source=source,
        created_at=created_at,
        run_id=metadata.get(RUN_ID_KEY),
        nodes=nodes,
        next=tuple(snapshot.next),
        changes=changes,
        reasoning=tuple(reasoning),
        cost_usd=cost,
        model_calls=count,
        unpriced_calls=unpriced,
        values=after,
    )


def _run_ids(snapshots: Sequence[Any]) -> set[str]:
    return {str(s.metadata[RUN_ID_KEY]) for s in snapshots if s.metadata and s.metadata.get(RUN_ID_KEY)}


def _entries(snapshots: Sequence[Any], calls: dict[str, list[Any]] | None = None) -> list[HistoryEntry]:
    ordered = list(reversed(snapshots))  # LangGraph lists newest first
    entries = []
    for i, snapshot in enumerate(ordered):
        run_id = (snapshot.metadata or {}).get(RUN_ID_KEY)
        run_calls = None if calls is None else calls.get(str(run_id), [])
        entries.append(_entry(snapshot, ordered[i - 1] if i else None, run_calls))
    return entries


def _thread_config(thread_id: str, checkpoint_id: str | None = None) -> RunnableConfig:
    configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id is not None:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def _fork_metadata(tup: Any, thread_id: str, checkpoint_id: str) -> dict[str, Any]:
    metadata = dict(tup.metadata or {})
    metadata.update({"source": "fork", "forked_from": f"{thread_id}:{checkpoint_id}"})
    metadata.pop(RUN_ID_KEY, None)
    return metadata


def _missing(thread_id: str, checkpoint_id: str) -> ConfigError:
    return ConfigError(
        f"thread {thread_id!r} has no checkpoint {checkpoint_id!r}; list them with history({thread_id!r})"
    )


class HistoryMixin:
    """Thread listing, history and forks; mixed into :class:`CompiledGraph`."""

    graph: Any
    name: str
    ledger: LedgerPort

    @property
    def _saver(self) -> Any:
        return self.graph.checkpointer

    # --- threads --------------------------------------------------------------------------

    def threads(self) -> list[ThreadInfo]:
        """This graph's threads, most recently run first (from the ledger, else the checkpointer)."""
        if self.ledger.enabled:
            return self.ledger.threads(self.name)
        seen: dict[str, ThreadInfo] = {}
        for tup in self._saver.list(None):
            thread = tup.config["configurable"]["thread_id"]
            if thread not in seen:
                seen[thread] = ThreadInfo(thread, 0, None, None, None)
        return list(seen.values())

    async def athreads(self) -> list[ThreadInfo]:
        """Async twin of :meth:`threads`."""
        if self.ledger.enabled:
            return await self.ledger.athreads(self.name)
        seen: dict[str, ThreadInfo] = {}
        async for tup in self._saver.alist(None):
            thread = tup.config["configurable"]["thread_id"]
            if thread not in seen:
                seen[thread] = ThreadInfo(thread, 0, None, None, None)
        return list(seen.values())

    # --- state and history ----------------------------------------------------------------

    def get_state(self, thread_id: str, checkpoint_id: str | None = None) -> Any:
        """LangGraph's ``StateSnapshot`` of a thread (at a checkpoint, when given)."""
        return self.graph.get_state(_thread_config(thread_id, checkpoint_id))

    async def aget_state(self, thread_id: str, checkpoint_id: str | None = None) -> Any:
        """Async twin of :meth:`get_state`."""
        return await self.graph.aget_state(_thread_config(thread_id, checkpoint_id))

    def history(self, thread_id: str) -> list[HistoryEntry]:
        """Every checkpoint of a thread, oldest first: node, time, changes, reasoning and cost.

        With a ledger, the cost of a checkpoint is that of the model calls its nodes made in the run
        that wrote it (failed calls included); without one, that of the model answers it holds.
        """
        snapshots = list(self.graph.get_state_history(_thread_config(thread_id)))
        calls = None
        if self.ledger.enabled:
            calls = {run: self.ledger.ledger.model_calls(run_id=run) for run in _run_ids(snapshots)}
        return _entries(snapshots, calls)

    async def ahistory(self, thread_id: str) -> list[HistoryEntry]:
        """Async twin of :meth:`history`."""
        snapshots = [s async for s in self.graph.aget_state_history(_thread_config(thread_id))]
        calls = None
        if self.ledger.enabled:
            calls = {run: await self.ledger.ledger.amodel_calls(run_id=run) for run in _run_ids(snapshots)}
        return _entries(snapshots, calls)

    # --- forks ----------------------------------------------------------------------------

    def fork(
        self,
        thread_id: str,
        checkpoint_id: str,
        *,
        new_thread_id: str | None = None,
        update: dict[str, Any] | None = None,
        as_node: str | None = None,
    ) -> str:
        """Start a new thread from a past checkpoint of ``thread_id`` and return the new thread's id.

        The checkpoint's state is copied (not the writes of tasks that ran after it), so
        continuing the new thread with ``resume(new_thread_id)`` runs the following nodes again,
        on the models and overrides of that run; the original thread is untouched. ``update``
        changes the copied state first, as LangGraph's ``update_state`` (``as_node`` included).

        Args:
            thread_id: the thread to fork.
            checkpoint_id: the checkpoint to fork from (see :meth:`history`).
            new_thread_id: the new thread's id (generated when omitted).
            update: state values to write on the new thread before it continues.
            as_node: the node the update is attributed to (decides what runs next).

        Raises:
            ConfigError: the thread has no such checkpoint.
        """
        saver = self._saver
        tup = saver.get_tuple(_thread_config(thread_id, checkpoint_id))
        if tup is None:
            raise _missing(thread_id, checkpoint_id)
        target = new_thread_id or uuid.uuid4().hex
        checkpoint = dict(tup.checkpoint)
        saver.put(
            _thread_config(target),
            checkpoint,
            _fork_metadata(tup, thread_id, checkpoint_id),
            dict(checkpoint.get("channel_versions", {})),
        )
        if update is not None:
            self.graph.update_state(_thread_config(target), update, as_node=as_node)
        return target

    async def afork(
        self,
        thread_id: str,
        checkpoint_id: str,
        *,
        new_thread_id: str | None = None,
        update: dict[str, Any] | None = None,
        as_node: str | None = None,
    ) -> str:
        """Async twin of :meth:`fork`."""
        saver = self._saver
        tup = await saver.aget_tuple(_thread_config(thread_id, checkpoint_id))
        if tup is None:
            raise _missing(thread_id, checkpoint_id)
        target = new_thread_id or uuid.uuid4().hex
        checkpoint = dict(tup.checkpoint)
        await saver.aput(
            _thread_config(target),
            checkpoint,
            _fork_metadata(tup, thread_id, checkpoint_id),
            dict(checkpoint.get("channel_versions", {})),
        )
        if update is not None:
            await self.graph.aupdate_state(_thread_config(target), update, as_node=as_node)
        return target
