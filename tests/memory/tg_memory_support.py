"""Helpers shared by the memory tests (a uniquely named module: tests have no packages)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import Checkpoint, empty_checkpoint


class Clock:
    """A clock the test moves by hand, for the ``clock=`` of the store and the ledger."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def config(thread: str, ns: str = "", checkpoint_id: str | None = None) -> RunnableConfig:
    """A checkpointer config for a thread (and namespace, and checkpoint)."""
    conf: dict[str, Any] = {"thread_id": thread, "checkpoint_ns": ns}
    if checkpoint_id:
        conf["checkpoint_id"] = checkpoint_id
    return {"configurable": conf}


def checkpoint(values: dict[str, Any], versions: dict[str, Any]) -> Checkpoint:
    """A new checkpoint holding these channel values at these versions."""
    cp = empty_checkpoint()
    cp["channel_values"] = values
    cp["channel_versions"] = versions
    return cp
