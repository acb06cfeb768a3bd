"""``ChatModel``: a langchain-core chat model over litellm with fallbacks, retries and breakers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers.openai_tools import JsonOutputKeyToolsParser, PydanticToolsParser
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda, RunnableMap, RunnablePassthrough
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from langchain_core.utils.json import parse_json_markdown
from pydantic import BaseModel, ConfigDict, Field, InstanceOf

from thinkgraph.exceptions import ConfigError, MalformedResponseError
from thinkgraph.models._engine import CallPlan, run_call, run_stream
from thinkgraph.models._engine_sync import run_call_sync, run_stream_sync
from thinkgraph.models._profiles import StructuredMode, profile_for, provider_of
from thinkgraph.models._resilience import BreakerRegistry, RetryPolicy
from thinkgraph.models._spec import ModelSpec, as_spec

__all__ = ["ChatModel"]

SpecLike = ModelSpec | str | Mapping[str, Any]

# Keyword arguments langchain adds for its own bookkeeping; never sent to the provider.
_LOCAL_KWARGS = frozenset({"ls_structured_output_format", "stream", "stream_options"})
_METHOD_ALIASES: Mapping[str, StructuredMode] = {
    "json_schema": "json_schema",
    "function_calling": "function_calling",
    "tool_calling": "function_calling",
    "tools": "function_calling",
    "json_mode": "json_mode",
}


class ChatModel(BaseChatModel):
    """A chat model reached through litellm, with a fallback chain, retries and circuit breakers.

    Build it from a spec or a plain model string, plus fallbacks::

        model = ChatModel("anthropic/claude-sonnet-4-5", fallbacks=["openai/gpt-4o-mini"])
        reply = await model.ainvoke("Hello")
        call_info_of(reply)["model"]  # the model that actually answered

    Instances hold no per-call state (only the thread-safe breaker registry) and can be shared
    by concurrent runs.

    Attributes:
        spec: the primary model.
        fallbacks: models tried in order when the primary fails.
        retry: the backoff policy between retries of one model.
        breakers: circuit breakers per endpoint; pass one registry to several models to share it.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    spec: ModelSpec
    fallbacks: tuple[ModelSpec, ...] = ()
    retry: InstanceOf[RetryPolicy] = Field(default_factory=RetryPolicy, exclude=True)
    breakers: InstanceOf[BreakerRegistry] = Field(default_factory=BreakerRegistry, exclude=True)

    def __init__(
        self,
        model: SpecLike | None = None,
        /,
        *,
        fallbacks: Sequence[SpecLike] = (),
        **kwargs: Any,
    ) -> None:
        """Build from ``model`` (a spec, a ``"provider/name"`` string or a mapping) and ``fallbacks``.

        Raises:
            ConfigError: a spec is invalid.
        """
        if model is None:
            model = kwargs.pop("spec", None)
        if model is None:
            raise ConfigError(
                "ChatModel needs a model: ChatModel('provider/name') or ChatModel(ModelSpec(...))"
            )
        if isinstance(fallbacks, str | ModelSpec | Mapping):
            fallbacks = [fallbacks]
        super().__init__(spec=as_spec(model), fallbacks=tuple(as_spec(f) for f in fallbacks), **kwargs)

    # --- identity ---------------------------------------------------------------------------

    @property
    def chain(self) -> tuple[ModelSpec, ...]:
        """The primary spec followed by the fallbacks."""
        return (self.spec, *self.fallbacks)

    @property
    def _llm_type(self) -> str:
        return "thinkgraph-litellm"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.spec.model, "fallbacks": [f.model for f in self.fallbacks]}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider=provider_of(self.spec.model),
            ls_model_name=self.spec.model,
            ls_model_type="chat",
        )
        if self.spec.temperature is not None:
            params["ls_temperature"] = self.spec.temperature
        if self.spec.max_tokens is not None:
            params["ls_max_tokens"] = self.spec.max_tokens
        if stop:
            params["ls_stop"] = stop
        return params

    # --- calls ------------------------------------------------------------------------------

    def _plan(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> CallPlan:
        params = {k: v for k, v in kwargs.items() if k not in _LOCAL_KWARGS}
        if stop:
            params["stop"] = stop
        return CallPlan(
            chain=self.chain, retry=self.retry, breakers=self.breakers, messages=list(messages), params=params
        )

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = await run_call(self._plan(messages, stop, kwargs))
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = run_call_sync(self._plan(messages, stop, kwargs))
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        async for chunk in run_stream(self._plan(messages, stop, kwargs)):
            generation = ChatGenerationChunk(message=chunk)
            if run_manager is not None and isinstance(chunk.content, str) and chunk.content:
                await run_manager.on_llm_new_token(chunk.content, chunk=generation)
            yield generation

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in run_stream_sync(self._plan(messages, stop, kwargs)):
            generation = ChatGenerationChunk(message=chunk)
            if run_manager is not None and isinstance(chunk.content, str) and chunk.content:
                run_manager.on_llm_new_token(chunk.content, chunk=generation)
            yield generation

    # --- tools and structured output --------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | bool | dict[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (OpenAI format, pydantic classes, functions or langchain tools) to the model.

        Args:
            tools: the tools the model may call.
            tool_choice: ``"auto"``, ``"none"``, ``"required"``/``"any"``/``True`` (must call one),
                a tool name, or an OpenAI ``tool_choice`` dict.
            parallel_tool_calls: allow several calls in one turn (dropped for models whose
                profile does not support it).
            strict: ask for strict schema adherence where the provider supports it.
            **kwargs: further parameters bound for every call.

        Raises:
            ConfigError: the primary model's profile has no tool support, or ``tool_choice``
                names a tool that is not bound.
        """
        if not profile_for(self.spec).tools:
            raise ConfigError(
                f"{self.spec.model!r} does not support tool calling "
                f"(profile {profile_for(self.spec).name!r}); choose a model with tools"
            )
        formatted = [convert_to_openai_tool(tool, strict=strict) for tool in tools]
        names = [t["function"]["name"] for t in formatted if "function" in t]
        choice: Any = tool_choice
        if tool_choice is True or tool_choice == "any":
            choice = "required"
        elif isinstance(tool_choice, str) and tool_choice not in ("auto", "none", "required"):
            if tool_choice not in names:
                raise ConfigError(f"tool_choice {tool_choice!r} is not one of the bound tools {names!r}")
            choice = {"type": "function", "function": {"name": tool_choice}}
        elif tool_choice is False:
            choice = None
        bound: dict[str, Any] = {"tools": formatted, **kwargs}
        if choice is not None:
            bound["tool_choice"] = choice
        if parallel_tool_calls is not None:
            bound["parallel_tool_calls"] = parallel_tool_calls
        return self.bind(**bound)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        include_raw: bool = False,
        method: str | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """A runnable that returns ``schema`` instances (pydantic) or dicts (JSON schema / TypedDict).

        Args:
            schema: a pydantic class, a TypedDict, a JSON schema or an OpenAI tool dict.
            include_raw: return ``{"raw", "parsed", "parsing_error"}`` instead of raising on bad output.
            method: ``"json_schema"``, ``"function_calling"`` or ``"json_mode"``; by default the
                primary model's profile decides.
            strict: ask for strict schema adherence where supported.

        Raises:
            ConfigError: unknown ``method`` or unsupported keyword arguments.
        """
        if kwargs:
            raise ConfigError(f"with_structured_output got unsupported arguments {sorted(kwargs)!r}")
        mode = _METHOD_ALIASES.get(method or profile_for(self.spec).structured_output)
        if mode is None:
            raise ConfigError(
                f"unknown structured output method {method!r}; use one of {sorted(_METHOD_ALIASES)!r}"
            )
        is_pydantic = isinstance(schema, type) and issubclass(schema, BaseModel)
        tool = convert_to_openai_tool(schema, strict=strict)
        name = tool["function"]["name"]
        llm: Runnable[LanguageModelInput, AIMessage]
        parser: Runnable[Any, Any]
        if mode == "function_calling":
            llm = self.bind_tools([schema], tool_choice=name, strict=strict)
            parser = (
                PydanticToolsParser(tools=[schema], first_tool_only=True)
                if is_pydantic
                else JsonOutputKeyToolsParser(key_name=name, first_tool_only=True)
            )
        else:
            if mode == "json_schema":
                json_schema = (
                    schema.model_json_schema()  # type: ignore[union-attr]
                    if is_pydantic
                    else tool["function"].get("parameters") or convert_to_json_schema(schema)
                )
                spec: dict[str, Any] = {"name": name, "schema": json_schema}
                if strict is not None:
                    spec["strict"] = strict
                llm = self.bind(response_format={"type": "json_schema", "json_schema": spec})
            else:
                llm = self.bind(response_format={"type": "json_object"})
            parser = RunnableLambda(_content_parser(schema if is_pydantic else None))
        if not include_raw:
            return llm | parser
        with_parsed = RunnablePassthrough.assign(
            parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
        )
        without = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=llm) | with_parsed.with_fallbacks([without], exception_key="parsing_error")


def _content_parser(schema: Any) -> Callable[[AIMessage], Any]:
    def parse(message: AIMessage) -> Any:
        text = message.text if hasattr(message, "text") else str(message.content)
        try:
            data = parse_json_markdown(text)
        except (ValueError, json.JSONDecodeError) as exc:
            raise MalformedResponseError(
                f"expected JSON for structured output, got {text[:200]!r}: {exc}"
            ) from exc
        return schema.model_validate(data) if schema is not None else data

    return parse
