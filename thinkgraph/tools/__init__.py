"""Tools for agents: the ``@tool`` decorator, the tool executor and safe built-in tools.

``@tool`` builds a langchain-core tool from a function's type hints and docstring, with the
options ``timeout`` and ``requires_approval``. :class:`ToolExecutor` runs a model's tool calls in
any LangGraph graph: concurrently, each under its timeout, errors returned to the model as
``ToolMessage(status="error")``, approvals through ``interrupt()``, and each call dispatched as
its own task so a crash never runs a finished call twice. The built-ins (calculator, confined file
access, read-only SQL, allowlisted HTTP GET) refuse hostile input with
:class:`~thinkgraph.exceptions.ToolAccessDenied`.
"""

from thinkgraph.tools._approval import (
    ApprovalDecision,
    ApprovalRequest,
    approve,
    edit,
    parse_decision,
    reject,
)
from thinkgraph.tools._calculator import calculator, safe_eval
from thinkgraph.tools._decorator import ThinkgraphTool, tool, tool_requires_approval, tool_timeout
from thinkgraph.tools._executor import (
    TOOL_OUTCOME_KEY,
    ToolCallTask,
    ToolExecutor,
    ToolOutcome,
    tool_outcome_of,
)
from thinkgraph.tools._files import FileSandbox, file_tools
from thinkgraph.tools._http import HttpFetcher, HttpResponse, http_get_tool
from thinkgraph.tools._sql import ReadOnlySQL, check_read_only_sql, sql_query_tool

__all__ = [
    "TOOL_OUTCOME_KEY",
    "ApprovalDecision",
    "ApprovalRequest",
    "FileSandbox",
    "HttpFetcher",
    "HttpResponse",
    "ReadOnlySQL",
    "ThinkgraphTool",
    "ToolCallTask",
    "ToolExecutor",
    "ToolOutcome",
    "approve",
    "calculator",
    "check_read_only_sql",
    "edit",
    "file_tools",
    "http_get_tool",
    "parse_decision",
    "reject",
    "safe_eval",
    "sql_query_tool",
    "tool",
    "tool_outcome_of",
    "tool_requires_approval",
    "tool_timeout",
]
