"""Store tables (items, vectors) and run ledger tables (runs, model calls, tool calls).

Revision ID: 0002_store_ledger
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from thinkgraph.memory._schema import UTCDateTime, blob_type, json_type, text_type
from thinkgraph.memory._store_schema import ID_BYTES, ExactId

revision = "0002_store_ledger"
down_revision = "0001"
branch_labels = None
depends_on = None


def _row_id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tg_store_items",
        sa.Column("prefix", ExactId(ID_BYTES), nullable=False),
        sa.Column("key", ExactId(ID_BYTES), nullable=False),
        sa.Column("value", json_type(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=True),
        sa.Column("ttl_minutes", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("prefix", "key", name="pk_tg_store_items"),
    )
    op.create_index("ix_tg_store_items_expires_at", "tg_store_items", ["expires_at"])
    op.create_table(
        "tg_store_vectors",
        sa.Column("prefix", ExactId(ID_BYTES), nullable=False),
        sa.Column("key", ExactId(ID_BYTES), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(1024), nullable=False),
        sa.Column("embedding", blob_type(), nullable=False),
        sa.PrimaryKeyConstraint("prefix", "key", "idx", name="pk_tg_store_vectors"),
        sa.ForeignKeyConstraint(
            ["prefix", "key"],
            ["tg_store_items.prefix", "tg_store_items.key"],
            name="fk_tg_store_vectors_prefix_tg_store_items",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "tg_runs",
        sa.Column("run_id", ExactId(255), nullable=False),
        sa.Column("thread_id", ExactId(255), nullable=True),
        sa.Column("graph", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("error", text_type(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name="pk_tg_runs"),
    )
    op.create_index("ix_tg_runs_thread_id_started_at", "tg_runs", ["thread_id", "started_at"])
    op.create_index("ix_tg_runs_started_at", "tg_runs", ["started_at"])
    op.create_table(
        "tg_model_calls",
        sa.Column("id", _row_id(), autoincrement=True, nullable=False),
        sa.Column("run_id", ExactId(255), nullable=True),
        sa.Column("thread_id", ExactId(255), nullable=True),
        sa.Column("node", sa.String(255), nullable=True),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("requested_model", sa.String(255), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("fallback", sa.Boolean(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_tokens", sa.BigInteger(), nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Double(), nullable=True),
        sa.Column("unpriced", sa.Boolean(), nullable=False),
        sa.Column("latency_s", sa.Double(), nullable=False),
        sa.Column("error_class", sa.String(128), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tg_model_calls"),
    )
    for column in ("run_id", "thread_id", "created_at"):
        op.create_index(f"ix_tg_model_calls_{column}", "tg_model_calls", [column])
    op.create_table(
        "tg_tool_calls",
        sa.Column("id", _row_id(), autoincrement=True, nullable=False),
        sa.Column("run_id", ExactId(255), nullable=True),
        sa.Column("thread_id", ExactId(255), nullable=True),
        sa.Column("node", sa.String(255), nullable=True),
        sa.Column("tool", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("latency_s", sa.Double(), nullable=False),
        sa.Column("error_class", sa.String(128), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tg_tool_calls"),
    )
    for column in ("run_id", "created_at"):
        op.create_index(f"ix_tg_tool_calls_{column}", "tg_tool_calls", [column])


def downgrade() -> None:
    for column in ("run_id", "created_at"):
        op.drop_index(f"ix_tg_tool_calls_{column}", table_name="tg_tool_calls")
    op.drop_table("tg_tool_calls")
    for column in ("run_id", "thread_id", "created_at"):
        op.drop_index(f"ix_tg_model_calls_{column}", table_name="tg_model_calls")
    op.drop_table("tg_model_calls")
    op.drop_index("ix_tg_runs_started_at", table_name="tg_runs")
    op.drop_index("ix_tg_runs_thread_id_started_at", table_name="tg_runs")
    op.drop_table("tg_runs")
    op.drop_table("tg_store_vectors")
    op.drop_index("ix_tg_store_items_expires_at", table_name="tg_store_items")
    op.drop_table("tg_store_items")
