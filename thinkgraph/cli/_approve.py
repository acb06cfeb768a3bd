"""Answering a paused run at the terminal: approve, reject or edit a tool call; answer a question."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import typer

__all__ = ["ask_decisions", "describe_interrupt", "jsonable"]

_APPROVE = {"a", "approve", "y", "yes"}
_REJECT = {"r", "reject", "n", "no"}
_EDIT = {"e", "edit"}


def jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON data: messages, pydantic models and dataclasses become mappings."""
    import dataclasses

    if depth > 50:
        return repr(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v, depth + 1) for v in value]
    from langchain_core.messages import BaseMessage

    if isinstance(value, BaseMessage):
        data: dict[str, Any] = {"type": value.type, "content": jsonable(value.content, depth + 1)}
        if value.name:
            data["name"] = value.name
        calls = getattr(value, "tool_calls", None)
        if calls:
            data["tool_calls"] = [{"name": c["name"], "args": jsonable(c["args"], depth + 1)} for c in calls]
        tool_call_id = getattr(value, "tool_call_id", None)
        if tool_call_id:
            data["tool_call_id"] = tool_call_id
        return data
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return jsonable(dump(mode="json"), depth + 1)
        except Exception:  # a model that cannot dump itself as JSON
            return repr(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)}
    return str(value)


def describe_interrupt(value: Any) -> str:
    """One line saying what a pending interrupt asks."""
    if isinstance(value, dict) and value.get("type") == "tool_approval":
        args = json.dumps(jsonable(value.get("args") or {}), ensure_ascii=False, sort_keys=True)
        return f"approve tool call {value.get('tool')}({args})?"
    if isinstance(value, str):
        return value
    return json.dumps(jsonable(value), ensure_ascii=False, sort_keys=True)


def _prompt(text: str, default: str | None = None) -> str:
    answer: str = typer.prompt(text, default=default, err=True, show_default=default not in (None, ""))
    return answer


def _ask_approval(value: dict[str, Any]) -> dict[str, Any]:
    while True:
        choice = _prompt("[a]pprove, [r]eject or [e]dit the arguments").strip().lower()
        if choice in _APPROVE:
            return {"action": "approve"}
        if choice in _REJECT:
            reason = _prompt("reason given to the model (optional)", default="").strip()
            return {"action": "reject", "reason": reason or None}
        if choice in _EDIT:
            current = json.dumps(jsonable(value.get("args") or {}), ensure_ascii=False, sort_keys=True)
            while True:
                text = _prompt("new arguments as a JSON object", default=current)
                try:
                    args = json.loads(text)
                except ValueError as exc:
                    typer.echo(f"not valid JSON ({exc}); try again", err=True)
                    continue
                if isinstance(args, dict):
                    return {"action": "edit", "args": args}
                typer.echo("the arguments must be a JSON object; try again", err=True)
        typer.echo(f"please answer a, r or e (got {choice!r})", err=True)


def _ask_value() -> Any:
    text = _prompt("your answer")
    stripped = text.strip()
    if stripped[:1] in ("{", "[") or stripped in ("true", "false"):
        try:
            return json.loads(stripped)
        except ValueError:
            return text
    return text


def ask_decisions(interrupts: Sequence[tuple[str, Any]]) -> dict[str, Any] | None:
    """Ask for an answer to each pending interrupt; ``None`` when no answer can be read (EOF).

    Returns:
        The answers by interrupt id.
    """
    answers: dict[str, Any] = {}
    try:
        for interrupt_id, value in interrupts:
            typer.echo(f"⏸ {describe_interrupt(value)}", err=True)
            if isinstance(value, dict) and value.get("type") == "tool_approval":
                answers[interrupt_id] = _ask_approval(value)
            else:
                answers[interrupt_id] = _ask_value()
    except (typer.Abort, EOFError):
        typer.echo("", err=True)
        return None
    return answers
