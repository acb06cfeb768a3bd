"""``resolve_model``: turn any model argument into a chat model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel

from thinkgraph.exceptions import ConfigError
from thinkgraph.models._chat import ChatModel
from thinkgraph.models._spec import ModelSpec, as_spec

__all__ = ["resolve_model"]


def resolve_model(model: BaseChatModel | ModelSpec | str | Mapping[str, Any]) -> BaseChatModel:
    """The chat model for a model argument: agents and graphs call this on whatever they are given.

    Args:
        model: a :class:`ChatModel` or any langchain ``BaseChatModel`` (returned as is), a
            :class:`ModelSpec`, a ``"provider/name"`` string or a spec mapping (from settings/YAML).

    Raises:
        ConfigError: the argument is none of these, or the spec is invalid.
    """
    if isinstance(model, BaseChatModel):
        return model
    if isinstance(model, ModelSpec | str | Mapping):
        return ChatModel(as_spec(model))
    raise ConfigError(
        f"cannot use {model!r} as a model: pass a 'provider/name' string, a ModelSpec or a chat model"
    )
