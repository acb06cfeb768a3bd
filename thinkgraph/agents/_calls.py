"""Model calls shared by the agents: resolve the model, call it, and trace the step."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from pydantic import BaseModel

from thinkgraph.agents._trace import ReasoningTrace, trace_step
from thinkgraph.exceptions import ConfigError, MalformedResponseError
from thinkgraph.models import ChatModel, ModelSpec, resolve_model

__all__ = ["ModelLike", "as_node", "call_structured", "last_human_text", "model_name", "resolve"]

#: Anything an agent accepts as a model: resolved with :func:`thinkgraph.models.resolve_model`.
ModelLike = ChatModel | ModelSpec | str | BaseChatModel

S = TypeVar("S", bound=BaseModel)


def last_human_text(messages: Sequence[BaseMessage], missing: str) -> str:
    """The text of the last ``HumanMessage``: the question or request an agent works on.

    Raises:
        ConfigError: there is none; ``missing`` is the error's message.
    """
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return message.text if isinstance(message.text, str) else str(message.content)
    raise ConfigError(missing)


def resolve(model: ModelLike) -> BaseChatModel:
    """The chat model for a model argument."""
    return resolve_model(model)


def model_name(model: BaseChatModel) -> str:
    """A readable name for error messages."""
    for attr in ("model", "model_name"):
        value = getattr(model, attr, None)
        if isinstance(value, str):
            return value
    return type(model).__name__


def as_node(
    afunc: Callable[..., Coroutine[Any, Any, dict[str, Any]]], name: str
) -> Runnable[Any, dict[str, Any]]:
    """A graph node from an async function, usable from ``invoke`` as well as ``ainvoke``.

    LangGraph runs sync nodes in worker threads without an event loop, where the coroutine gets a
    private one (context variables, and so ``interrupt()``, carry over).
    """

    def sync(state: Any, config: RunnableConfig) -> dict[str, Any]:
        return asyncio.run(afunc(state, config))

    return RunnableLambda(sync, afunc=afunc, name=name)


async def call_structured(
    model: BaseChatModel,
    schema: type[S],
    messages: Sequence[BaseMessage],
    *,
    node: str,
    config: RunnableConfig | None = None,
    label: str | None = None,
    thought_field: str = "thought",
) -> tuple[S, ReasoningTrace]:
    """Ask for ``schema`` with structured output and trace the step.

    One repair attempt is made when the reply does not parse; the explicit thought is read from
    ``thought_field`` of the parsed object.

    Raises:
        MalformedResponseError: the model answered twice with something that is not ``schema``.
    """
    structured = model.with_structured_output(schema, include_raw=True)
    conversation = list(messages)
    error: Any = None
    for _ in range(2):
        result: Any = await structured.ainvoke(conversation, config)
        raw = result.get("raw")
        parsed = result.get("parsed")
        if isinstance(parsed, dict):
            parsed = schema.model_validate(parsed)
        if isinstance(parsed, schema):
            thought = getattr(parsed, thought_field, None)
            return parsed, trace_step(
                node, raw, thought=thought if isinstance(thought, str) else None, label=label
            )
        error = result.get("parsing_error")
        if isinstance(raw, AIMessage):
            conversation.append(raw)
            if raw.tool_calls:
                # answer the call the parser rejected, so the conversation stays well formed
                conversation.extend(
                    ToolMessage(content=f"Invalid: {error}", tool_call_id=c.get("id") or "", status="error")
                    for c in raw.tool_calls
                )
        conversation.append(
            HumanMessage(
                f"Your reply did not match the required {schema.__name__} format ({error}). "
                "Reply again, in exactly that format."
            )
        )
    raise MalformedResponseError(
        f"no valid {schema.__name__} after a repair attempt: {error}; check the model supports "
        "structured output (tool calling or JSON mode)",
        model=model_name(model),
    )
