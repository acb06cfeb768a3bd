"""Checkpoint rows carry their small scalar channel values; no table changes.

From this revision, ``SQLCheckpointer.put`` keeps channel values that are ``None``, booleans,
64-bit integers, floats and strings of at most 256 characters inside the serialized checkpoint
row instead of a blob row each. Rows written before it (no inline values) read as before. The
revision exists so that an older thinkgraph, which would not see those values, refuses a
database written by this one (``SchemaTooNewError``) instead of reading incomplete checkpoints.

Downgrading changes no table either: checkpoints written at this revision then lose their
inline values when read by the older code, so delete those threads (or never downgrade a
database in use).

Revision ID: 0003_inline_values
Revises: 0002_store_ledger
Create Date: 2026-12-01
"""

from __future__ import annotations

revision = "0003_inline_values"
down_revision = "0002_store_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change in the tables: the new format is read and written by the code."""


def downgrade() -> None:
    """Nothing to change in the tables (see the module docstring for what older code reads)."""
