"""``NodeModel``: a late-bound chat model that resolves a node's model at call time.

Every node of a thinkgraph graph gets one. It is an ordinary langchain-core ``BaseChatModel``, so
agents and plain functions use it like any chat model (``invoke``, ``bind_tools``,
``with_structured_output``, streaming). On each call it reads the current run from the
``RunnableConfig`` langchain propagates through context variables, then:

1. checks the run's budget (stop with :class:`~thinkgraph.exceptions.BudgetExceeded`, or switch
   to the cheapest model of the chain in downgrade mode);
2. resolves the node's model (node → run override → settings → graph default → settings
   default) and refuses a chain outside the node's residency policy;
3. delegates to the resolved model, inside the same callback run (token streaming works);
4. adds the call's cost to the run, records it in the ledger and streams a cost event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableBinding, RunnableConfig, RunnableLambda
from langchain_core.runnables.config import var_child_runnable_config
from pydantic import ConfigDict, PrivateAttr

from thinkgraph.exceptions import ConfigError, ResidencyViolation
from thinkgraph.graphs._accounting import (
    aaccount,
    aaccount_failure,
    account,
    account_failure,
    arecord_refusal,
    record_refusal,
)
from thinkgraph.graphs._context import RunContext, current_run, node_of_config
from thinkgraph.graphs._resolve import Resolved, Resolver

__all__ = ["NodeModel"]

_TOOLS_KEY = "_thinkgraph_tools"


class NodeModel(BaseChatModel):
    """The model of one graph node, resolved when it is called.

    Attributes:
        node: the node it serves; ``None`` to serve whichever top-level node is running (for a
            LangGraph subgraph you build yourself and add as a node).
        role: for agents with several models (planner, critic, grader ...): which one; its model
            is looked up as ``"node.role"`` first, then as the node's.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    node: str | None = None
    role: str | None = None
    _fallback: Callable[[], Resolver | None] | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "thinkgraph-node"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"node": self.node, "role": self.role}

    # --- resolution -----------------------------------------------------------------------

    def _target(self) -> tuple[RunContext | None, str, Resolver]:
        config = var_child_runnable_config.get()
        run = current_run(config)
        node = self.node or node_of_config(config)
        if node is None:
            raise ConfigError(
                "a graph-wide NodeModel was called outside a graph node; call it from a node, "
                "or use graph.model_for(name) to bind it to a node"
            )
        resolver = run.resolver if run is not None else None
        if resolver is None and self._fallback is not None:
            resolver = self._fallback()
        if resolver is None:
            raise ConfigError(
                f"the model of node {node!r} was called before its graph was compiled; "
                "compile the graph first"
            )
        return run, node, resolver

    def _resolve(self, run: RunContext | None, node: str, resolver: Resolver) -> Resolved:
        if run is None:
            return resolver.resolve(node, role=self.role)
        run.check_budget()
        resolved = resolver.resolve(node, run.overrides, role=self.role, downgrade=run.downgraded)
        run.reserve_call()
        return resolved

    # --- tool binding and structured output -----------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; they are handed to the resolved model's own ``bind_tools`` at call time."""
        return self.bind(**{_TOOLS_KEY: (tuple(tools), tool_choice, dict(kwargs))})

    def with_structured_output(
        self,
        schema: Any,
        *,
        include_raw: bool = False,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """Structured output through the resolved model's own ``with_structured_output``."""

        def prepare() -> tuple[RunContext | None, str, Resolved, Runnable[Any, Any]]:
            run, node, resolver = self._target()
            try:
                resolved = self._resolve(run, node, resolver)
            except ResidencyViolation as exc:
                record_refusal(run, node, exc)
                raise
            inner = resolved.model.with_structured_output(schema, include_raw=True, **kwargs)
            return run, node, resolved, inner

        def finish(out: Any) -> Any:
            if include_raw:
                return out
            error = out.get("parsing_error") if isinstance(out, Mapping) else None
            if error is not None:
                raise error
            return out.get("parsed") if isinstance(out, Mapping) else out

        def invoke(value: Any, config: RunnableConfig) -> Any:
            run, node, resolved, inner = prepare()
            try:
                out = inner.invoke(value, config)
            except Exception as exc:
                account_failure(run, node, resolved, exc)
                raise
            raw = out.get("raw") if isinstance(out, Mapping) else None
            if isinstance(raw, BaseMessage):
                account(run, node, resolved, raw)
            return finish(out)

        async def ainvoke(value: Any, config: RunnableConfig) -> Any:
            run, node, resolved, inner = prepare()
            try:
                out = await inner.ainvoke(value, config)
            except Exception as exc:
                await aaccount_failure(run, node, resolved, exc)
                raise
            raw = out.get("raw") if isinstance(out, Mapping) else None
            if isinstance(raw, BaseMessage):
                await aaccount(run, node, resolved, raw)
            return finish(out)

        return RunnableLambda(invoke, afunc=ainvoke, name=f"{self.node or 'node'}_structured_output")

    def _checked(self, run: RunContext | None, node: str, resolver: Resolver) -> Resolved:
        try:
            return self._resolve(run, node, resolver)
        except ResidencyViolation as exc:
            record_refusal(run, node, exc)
            raise

    # --- calls ----------------------------------------------------------------------------

    @staticmethod
    def _inner_kwargs(model: BaseChatModel, kwargs: dict[str, Any]) -> tuple[BaseChatModel, dict[str, Any]]:
        packed = kwargs.pop(_TOOLS_KEY, None)
        if packed is None:
            return model, kwargs
        tools, tool_choice, extra = packed
        bound = model.bind_tools(list(tools), tool_choice=tool_choice, **extra)
        if isinstance(bound, RunnableBinding) and bound.bound is model:
            return model, {**bound.kwargs, **kwargs}
        if isinstance(bound, BaseChatModel):
            return bound, kwargs
        raise ConfigError(
            f"{type(model).__name__}.bind_tools returned {type(bound).__name__}; a node model needs "
            "a chat model whose bind_tools returns a binding of itself"
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        run, node, resolver = self._target()
        resolved = self._checked(run, node, resolver)
        model, inner_kwargs = self._inner_kwargs(resolved.model, kwargs)
        try:
            result = model._generate(messages, stop=stop, run_manager=run_manager, **inner_kwargs)
        except Exception as exc:
            account_failure(run, node, resolved, exc)
            raise
        account(run, node, resolved, result.generations[0].message)
        return result

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        run, node, resolved = await self._aprepare()
        model, inner_kwargs = self._inner_kwargs(resolved.model, kwargs)
        try:
            result = await model._agenerate(messages, stop=stop, run_manager=run_manager, **inner_kwargs)
        except Exception as exc:
            await aaccount_failure(run, node, resolved, exc)
            raise
        await aaccount(run, node, resolved, result.generations[0].message)
        return result

    async def _aprepare(self) -> tuple[RunContext | None, str, Resolved]:
        run, node, resolver = self._target()
        try:
            return run, node, self._resolve(run, node, resolver)
        except ResidencyViolation as exc:
            await arecord_refusal(run, node, exc)
            raise

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        run, node, resolver = self._target()
        resolved = self._checked(run, node, resolver)
        model, inner_kwargs = self._inner_kwargs(resolved.model, kwargs)
        try:
            if type(model)._stream is BaseChatModel._stream:
                result = model._generate(messages, stop=stop, run_manager=run_manager, **inner_kwargs)
                chunks: Iterator[ChatGenerationChunk] = iter([_as_chunk(result.generations[0].message)])
            else:
                chunks = model._stream(messages, stop=stop, run_manager=run_manager, **inner_kwargs)
            merged: ChatGenerationChunk | None = None
            for chunk in chunks:
                merged = chunk if merged is None else merged + chunk
                yield chunk
        except Exception as exc:
            account_failure(run, node, resolved, exc)
            raise
        if merged is not None:
            account(run, node, resolved, merged.message)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        run, node, resolved = await self._aprepare()
        model, inner_kwargs = self._inner_kwargs(resolved.model, kwargs)
        merged: ChatGenerationChunk | None = None
        try:
            if (
                type(model)._astream is BaseChatModel._astream
                and type(model)._stream is BaseChatModel._stream
            ):
                result = await model._agenerate(messages, stop=stop, run_manager=run_manager, **inner_kwargs)
                merged = _as_chunk(result.generations[0].message)
                yield merged
            else:
                async for chunk in model._astream(
                    messages, stop=stop, run_manager=run_manager, **inner_kwargs
                ):
                    merged = chunk if merged is None else merged + chunk
                    yield chunk
        except Exception as exc:
            await aaccount_failure(run, node, resolved, exc)
            raise
        if merged is not None:
            await aaccount(run, node, resolved, merged.message)


def _as_chunk(message: BaseMessage) -> ChatGenerationChunk:
    ai = message if isinstance(message, AIMessage) else AIMessage(content=message.content)
    chunk = AIMessageChunk(
        content=ai.content,
        additional_kwargs=dict(ai.additional_kwargs),
        response_metadata=dict(ai.response_metadata),
        id=ai.id,
        usage_metadata=ai.usage_metadata,
        tool_call_chunks=[
            {
                "name": call["name"],
                "args": _json(call["args"]),
                "id": call.get("id"),
                "index": i,
                "type": "tool_call_chunk",
            }
            for i, call in enumerate(ai.tool_calls)
        ],
    )
    return ChatGenerationChunk(message=chunk)


def _json(value: Any) -> str:
    import json

    return json.dumps(value)
