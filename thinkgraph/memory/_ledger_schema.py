"""Tables of the run ledger (:class:`~thinkgraph.memory.Ledger`), on the shared :data:`metadata`.

* ``tg_runs``: one row per run (started, then finished with a status).
* ``tg_model_calls``: one row per model call (after retries and fallbacks), with tokens and cost.
* ``tg_tool_calls``: one row per tool call.

Calls are not foreign keys of runs: a call is recorded even when no run row exists (a model used
outside a graph), in a transaction of its own or with the other calls queued before a checkpoint
(see :class:`~thinkgraph.memory.Ledger`).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Double, Index, Integer, String, Table

from thinkgraph.memory._schema import UTCDateTime, metadata, text_type
from thinkgraph.memory._store_schema import ExactId

__all__ = ["model_calls", "runs", "tool_calls"]

_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")

runs = Table(
    "tg_runs",
    metadata,
    Column("run_id", ExactId(255), primary_key=True),
    Column("thread_id", ExactId(255), nullable=True),
    Column("graph", String(255), nullable=True),
    Column("status", String(16), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime(), nullable=True),
    Column("error", text_type(), nullable=True),
    Index(None, "thread_id", "started_at"),
    Index(None, "started_at"),
)
"""One row per run; ``status`` is running, succeeded, failed, interrupted or cancelled."""

model_calls = Table(
    "tg_model_calls",
    metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("run_id", ExactId(255), nullable=True),
    Column("thread_id", ExactId(255), nullable=True),
    Column("node", String(255), nullable=True),
    Column("provider", String(64), nullable=False),
    Column("requested_model", String(255), nullable=False),
    Column("model", String(255), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("fallback", Boolean(), nullable=False),
    Column("input_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("cached_tokens", BigInteger, nullable=False),
    Column("reasoning_tokens", BigInteger, nullable=False),
    Column("cost_usd", Double(), nullable=True),
    Column("unpriced", Boolean(), nullable=False),
    Column("latency_s", Double(), nullable=False),
    Column("error_class", String(128), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index(None, "run_id"),
    Index(None, "thread_id"),
    Index(None, "created_at"),
)
"""One row per model call; ``cost_usd`` is ``NULL`` when the model is unpriced (never "free")."""

tool_calls = Table(
    "tg_tool_calls",
    metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("run_id", ExactId(255), nullable=True),
    Column("thread_id", ExactId(255), nullable=True),
    Column("node", String(255), nullable=True),
    Column("tool", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("latency_s", Double(), nullable=False),
    Column("error_class", String(128), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index(None, "run_id"),
    Index(None, "created_at"),
)
"""One row per tool call; ``status`` is ok, error, timeout or denied."""
