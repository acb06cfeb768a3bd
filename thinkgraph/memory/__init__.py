"""SQL persistence for LangGraph: checkpoints, schema migrations, retention.

Everything lives in one database given as a plain URL (``sqlite:///file.db``,
``postgresql://user@host/db``, ``mysql://user@host/db``); sync and async callers share it.
"""

from thinkgraph.memory._checkpointer import SQLCheckpointer
from thinkgraph.memory._engine import Engines
from thinkgraph.memory._engine_create import create_engines, engines_for
from thinkgraph.memory._ledger import Ledger
from thinkgraph.memory._ledger_types import (
    CostGroup,
    CostRow,
    ModelCallRecord,
    RunRecord,
    RunStatus,
    RunSummary,
    ToolCallRecord,
    ToolStatus,
)
from thinkgraph.memory._migrate import aschema_revision, aupgrade, head_revision, schema_revision, upgrade
from thinkgraph.memory._retention import (
    adelete_threads_older_than,
    aprune_checkpoints,
    delete_threads_older_than,
    prune_checkpoints,
)
from thinkgraph.memory._store import SQLStore

__all__ = [
    "CostGroup",
    "CostRow",
    "Engines",
    "Ledger",
    "ModelCallRecord",
    "RunRecord",
    "RunStatus",
    "RunSummary",
    "SQLCheckpointer",
    "SQLStore",
    "ToolCallRecord",
    "ToolStatus",
    "adelete_threads_older_than",
    "aprune_checkpoints",
    "aschema_revision",
    "aupgrade",
    "create_engines",
    "delete_threads_older_than",
    "engines_for",
    "head_revision",
    "prune_checkpoints",
    "schema_revision",
    "upgrade",
]
