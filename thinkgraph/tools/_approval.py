"""Human approval of tool calls: the interrupt payload and the resume values it accepts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from thinkgraph.exceptions import ConfigError

__all__ = ["ApprovalDecision", "ApprovalRequest", "approve", "edit", "parse_decision", "reject"]


class ApprovalRequest(TypedDict):
    """The ``interrupt()`` payload for a tool call that needs approval."""

    type: Literal["tool_approval"]
    tool: str
    args: dict[str, Any]
    tool_call_id: str


@dataclass(frozen=True, slots=True)
class ApprovalDecision:
    """A parsed resume value: ``approve``, ``reject`` (with an optional reason) or ``edit`` (new args)."""

    action: Literal["approve", "reject", "edit"]
    args: dict[str, Any] | None = None
    reason: str | None = None


def approve() -> dict[str, Any]:
    """The resume value approving a call: ``Command(resume=approve())``."""
    return {"action": "approve"}


def reject(reason: str | None = None) -> dict[str, Any]:
    """The resume value rejecting a call; the model is told ``reason``."""
    return {"action": "reject", "reason": reason}


def edit(args: dict[str, Any]) -> dict[str, Any]:
    """The resume value running the call with edited arguments."""
    return {"action": "edit", "args": dict(args)}


_APPROVE = {"approve", "approved", "yes", "y", "ok"}
_REJECT = {"reject", "rejected", "deny", "denied", "no", "n"}


def parse_decision(value: Any) -> ApprovalDecision:
    """Read a resume value: ``True``/``"approve"``, ``False``/``"reject"``, or a dict with ``action``.

    Raises:
        ConfigError: the value is none of the accepted forms.
    """
    if value is True or (isinstance(value, str) and value.strip().lower() in _APPROVE):
        return ApprovalDecision("approve")
    if value is False or (isinstance(value, str) and value.strip().lower() in _REJECT):
        return ApprovalDecision("reject")
    if isinstance(value, dict):
        action = str(value.get("action", "")).lower()
        if action in _APPROVE:
            return ApprovalDecision("approve")
        if action in _REJECT:
            reason = value.get("reason")
            return ApprovalDecision("reject", reason=str(reason) if reason else None)
        if action == "edit" and isinstance(value.get("args"), dict):
            return ApprovalDecision("edit", args=dict(value["args"]))
    raise ConfigError(
        f"cannot read the approval decision {value!r}: resume with approve(), reject(reason) "
        "or edit(args) from thinkgraph.tools (or True / False)"
    )
