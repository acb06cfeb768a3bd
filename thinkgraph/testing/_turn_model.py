"""The plumbing shared by the offline chat models: one :class:`Turn` per call, metadata attached."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel

from thinkgraph.testing._messages import Turn, stream_chunks, turn_message
from thinkgraph.testing._structured import structured_runnable

__all__ = ["TurnModel"]


class TurnModel(BaseChatModel):
    """A chat model that decides one :class:`Turn` per call; subclasses implement :meth:`_next_turn`.

    Every message it returns carries thinkgraph's metadata contract, reported as model
    ``scripted/<model_name>``, priced at ``cost_per_call`` (``None``: unpriced).
    """

    model_name: str = "model"
    cost_per_call: float | None = None

    @property
    def model(self) -> str:
        """The model string reported in the metadata (``scripted/<model_name>``)."""
        return f"scripted/{self.model_name}"

    @abstractmethod
    def _next_turn(self, messages: list[BaseMessage], kwargs: Mapping[str, Any]) -> Turn:
        """The turn answering ``messages`` (``kwargs``: the bound call parameters)."""

    def _on_bind_tools(self, formatted: list[dict[str, Any]]) -> None:
        """Hook: called with the OpenAI-format tools of every ``bind_tools``."""

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | Any],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind ``tools`` (any form langchain accepts) for the following calls."""
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        self._on_bind_tools(formatted)
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=formatted, **kwargs)

    def with_structured_output(
        self, schema: dict[str, Any] | type, *, include_raw: bool = False, **kwargs: Any
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """Answer with an instance of ``schema`` (a pydantic class or JSON schema)."""
        return structured_runnable(self, schema, include_raw=include_raw)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        turn = self._next_turn(messages, kwargs)
        message = turn_message(turn, messages, model=self.model, cost_usd=self.cost_per_call, message_id=None)
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._generate(messages, stop, None, **kwargs)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        turn = self._next_turn(messages, kwargs)
        yield from stream_chunks(
            turn, messages, model=self.model, cost_usd=self.cost_per_call, message_id=None
        )

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._stream(messages, stop, None, **kwargs):
            yield chunk
