"""``with_structured_output`` for the offline models: the answer's JSON text validated to a schema."""

from __future__ import annotations

import json
from typing import Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel, TypeAdapter

from thinkgraph.exceptions import ConfigError

__all__ = ["STRUCTURED_KWARG", "json_schema_of", "parse_structured", "structured_runnable"]

STRUCTURED_KWARG = "thinkgraph_structured_schema"


def json_schema_of(schema: dict[str, Any] | type) -> dict[str, Any]:
    """The JSON schema of a pydantic class, TypedDict, dataclass or an already-JSON ``schema``."""
    if isinstance(schema, dict):
        inner = schema.get("function", schema)
        found = inner.get("parameters", inner) if isinstance(inner, dict) else inner
        return dict(found) if isinstance(found, dict) else {}
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_json_schema()
    return TypeAdapter(schema).json_schema()


def _schema_name(schema: dict[str, Any] | type) -> str:
    if isinstance(schema, dict):
        return str(schema.get("title") or schema.get("name") or "schema")
    return schema.__name__


def parse_structured(message: BaseMessage, schema: dict[str, Any] | type) -> Any:
    """Validate ``message``'s JSON text against ``schema``.

    Raises:
        ConfigError: the text is not JSON or does not match the schema.
    """
    text = message.content if isinstance(message.content, str) else json.dumps(message.content)
    try:
        data = json.loads(text)
    except ValueError:
        raise ConfigError(
            f"the scripted answer {text!r} is not JSON for schema {_schema_name(schema)!r}: "
            "script a pydantic instance, a dict or a JSON string"
        ) from None
    try:
        if isinstance(schema, dict):
            if not isinstance(data, dict):
                raise TypeError(f"expected a JSON object, got {type(data).__name__}")
            missing = [k for k in json_schema_of(schema).get("required", ()) if k not in data]
            if missing:
                raise TypeError(f"missing required field(s) {missing!r}")
            return data
        if issubclass(schema, BaseModel):
            return schema.model_validate(data)
        return TypeAdapter(schema).validate_python(data)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"the scripted answer {text!r} does not match schema {_schema_name(schema)!r}: {exc}"
        ) from None


def structured_runnable(
    model: BaseChatModel, schema: dict[str, Any] | type, *, include_raw: bool
) -> Runnable[LanguageModelInput, Any]:
    """``model`` asked for ``schema`` (the kwarg tells it so), then the answer parsed."""
    bound = model.bind(**{STRUCTURED_KWARG: schema})

    def parse(message: AIMessage) -> Any:
        if not include_raw:
            return parse_structured(message, schema)
        try:
            return {"raw": message, "parsed": parse_structured(message, schema), "parsing_error": None}
        except ConfigError as exc:
            return {"raw": message, "parsed": None, "parsing_error": exc}

    return bound | RunnableLambda(parse)
