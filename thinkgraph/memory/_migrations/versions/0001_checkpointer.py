"""Checkpointer tables: checkpoints, channel blobs, pending writes.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from thinkgraph.memory._schema import (
    NS_HASH_LENGTH,
    UTCDateTime,
    ascii_id_type,
    blob_type,
    id_type,
    json_type,
    text_type,
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tg_checkpoints",
        sa.Column("thread_id", id_type(), nullable=False),
        sa.Column("ns_hash", ascii_id_type(NS_HASH_LENGTH), nullable=False),
        sa.Column("checkpoint_id", ascii_id_type(), nullable=False),
        sa.Column("checkpoint_ns", text_type(), nullable=False),
        sa.Column("parent_checkpoint_id", ascii_id_type(), nullable=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("checkpoint", blob_type(), nullable=False),
        sa.Column("metadata", json_type(), nullable=False),
        sa.Column("run_id", id_type(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("thread_id", "ns_hash", "checkpoint_id", name="pk_tg_checkpoints"),
    )
    op.create_index("ix_tg_checkpoints_run_id", "tg_checkpoints", ["run_id"])
    op.create_index("ix_tg_checkpoints_created_at", "tg_checkpoints", ["created_at"])
    op.create_table(
        "tg_checkpoint_blobs",
        sa.Column("thread_id", id_type(), nullable=False),
        sa.Column("ns_hash", ascii_id_type(NS_HASH_LENGTH), nullable=False),
        sa.Column("channel", id_type(), nullable=False),
        sa.Column("version", ascii_id_type(128), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("blob", blob_type(), nullable=True),
        sa.PrimaryKeyConstraint("thread_id", "ns_hash", "channel", "version", name="pk_tg_checkpoint_blobs"),
    )
    op.create_table(
        "tg_checkpoint_writes",
        sa.Column("thread_id", id_type(), nullable=False),
        sa.Column("ns_hash", ascii_id_type(NS_HASH_LENGTH), nullable=False),
        sa.Column("checkpoint_id", ascii_id_type(), nullable=False),
        sa.Column("task_id", id_type(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("task_path", text_type(), nullable=False),
        sa.Column("channel", id_type(), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("blob", blob_type(), nullable=True),
        sa.PrimaryKeyConstraint(
            "thread_id", "ns_hash", "checkpoint_id", "task_id", "idx", name="pk_tg_checkpoint_writes"
        ),
    )


def downgrade() -> None:
    op.drop_table("tg_checkpoint_writes")
    op.drop_table("tg_checkpoint_blobs")
    op.drop_index("ix_tg_checkpoints_created_at", table_name="tg_checkpoints")
    op.drop_index("ix_tg_checkpoints_run_id", table_name="tg_checkpoints")
    op.drop_table("tg_checkpoints")
