"""Reference savers for ``checkpointer.py``: what a durable SQLite saver can do at best here.

Neither is a product. Each reads from memory (LangGraph's ``InMemorySaver``, so reads cost
nothing) and writes with bare ``sqlite3`` and the least Python possible, durably at every
``put`` and ``put_writes`` (WAL, ``synchronous=NORMAL``, as ``SQLCheckpointer``):

* ``SameRowsFloor`` writes the rows ``SQLCheckpointer`` writes (a blob row per changed channel
  that is not a small scalar, the checkpoint row with its metadata, a row per pending write) into
  its tables, in the fewest statements: one multi-row ``INSERT`` per table, each committing on its
  own (blobs before the checkpoint row): the best this storage design can do.
* ``OneRowFloor`` writes one pre-serialized row per call into a one-table database with only a
  primary key: the best any saver that commits every call can do (``SqliteSaver``'s layout).

A throughput ratio against ``SqliteSaver`` above these floors' is out of reach for a saver that
stores what they store, durably at every step.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    get_serializable_checkpoint_metadata,
)
from langgraph.checkpoint.memory import InMemorySaver

from thinkgraph.memory import SQLCheckpointer
from thinkgraph.memory._checkpointer_plans import _inlined  # the same rule as the saver's
from thinkgraph.memory._schema import ns_hash

_BLOBS = (
    "INSERT INTO tg_checkpoint_blobs (thread_id, ns_hash, channel, version, type, blob) VALUES {}"
    " ON CONFLICT DO NOTHING"
)
_CHECKPOINT = (
    "INSERT INTO tg_checkpoints (thread_id, ns_hash, checkpoint_id, checkpoint_ns,"
    " parent_checkpoint_id, type, checkpoint, metadata, run_id, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (thread_id, ns_hash, checkpoint_id)"
    " DO UPDATE SET type = excluded.type, checkpoint = excluded.checkpoint,"
    " metadata = excluded.metadata, run_id = excluded.run_id"
)
_WRITES = (
    "INSERT INTO tg_checkpoint_writes (thread_id, ns_hash, checkpoint_id, task_id, idx,"
    " task_path, channel, type, blob) VALUES {} ON CONFLICT DO NOTHING"
)


def _rows(sql: str, rows: list[tuple[Any, ...]]) -> tuple[str, list[Any]]:
    """One multi-row INSERT for ``rows`` (one statement: atomic without a transaction)."""
    marks = "(" + ", ".join("?" * len(rows[0])) + ")"
    return sql.format(", ".join([marks] * len(rows))), [value for row in rows for value in row]


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA wal_autocheckpoint = 10000")
    return conn


class SameRowsFloor(InMemorySaver):
    """In-memory reads; ``SQLCheckpointer``'s rows written with bare sqlite3."""

    def __init__(self, path: str) -> None:
        super().__init__()
        with SQLCheckpointer(f"sqlite:///{path}") as saver:
            saver.setup()  # the same tables
        self.conn = _connect(path)
        self.write_lock = threading.Lock()

    def close(self) -> None:
        self.conn.close()

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        conf = config["configurable"]
        thread, ns = conf["thread_id"], conf.get("checkpoint_ns", "")
        key, values = ns_hash(ns), checkpoint["channel_values"]
        inline = {k: v for k, v in values.items() if _inlined(v)}
        blobs = [
            (thread, key, channel, str(version), *self.serde.dumps_typed(values[channel]))
            for channel, version in new_versions.items()
            if channel in values and channel not in inline
        ]
        body = {**{k: v for k, v in checkpoint.items() if k != "channel_values"}, "channel_values": inline}
        kind, data = self.serde.dumps_typed(body)
        meta = get_serializable_checkpoint_metadata(config, metadata)
        row = (
            thread,
            key,
            checkpoint["id"],
            ns,
            conf.get("checkpoint_id"),
            kind,
            data,
            json.dumps(meta),
            meta.get("run_id"),
            datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        )
        with self.write_lock:
            if blobs:
                self.conn.execute(*_rows(_BLOBS, blobs))
            self.conn.execute(_CHECKPOINT, row)
        return super().put(config, checkpoint, metadata, new_versions)

    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        conf = config["configurable"]
        key = ns_hash(conf.get("checkpoint_ns", ""))
        rows = [
            (
                conf["thread_id"],
                key,
                conf["checkpoint_id"],
                task_id,
                i,
                task_path,
                channel,
                *self.serde.dumps_typed(v),
            )
            for i, (channel, v) in enumerate(writes)
        ]
        if rows:
            with self.write_lock:
                self.conn.execute(*_rows(_WRITES, rows))
        super().put_writes(config, writes, task_id, task_path)


class OneRowFloor(InMemorySaver):
    """In-memory reads; one pre-serialized row per call, one statement, committed on its own."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.conn = _connect(path)
        self.conn.execute("CREATE TABLE IF NOT EXISTS saved (key TEXT PRIMARY KEY, value BLOB)")
        self.write_lock = threading.Lock()

    def close(self) -> None:
        self.conn.close()

    def _save(self, key: str, value: Any) -> None:
        _, data = self.serde.dumps_typed(value)
        with self.write_lock:
            self.conn.execute("INSERT OR REPLACE INTO saved VALUES (?, ?)", (key, data))

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        self._save(f"{config['configurable']['thread_id']}/{checkpoint['id']}", checkpoint)
        return super().put(config, checkpoint, metadata, new_versions)

    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        conf = config["configurable"]
        self._save(f"{conf['thread_id']}/{conf['checkpoint_id']}/{task_id}", list(writes))
        super().put_writes(config, writes, task_id, task_path)
