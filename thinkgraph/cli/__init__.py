"""The ``thinkgraph`` command. Importing it loads neither litellm nor LangGraph.

:func:`prepare_offline` is the command's ``--offline`` mode for your own programs: it points every
model of a graph at a :class:`~thinkgraph.testing.FakeProvider`.
"""

from thinkgraph.cli._app import app, main
from thinkgraph.cli._offline import OfflinePlan, Redirect, prepare_offline

__all__ = ["OfflinePlan", "Redirect", "app", "main", "prepare_offline"]
