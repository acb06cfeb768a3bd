"""TestModel and the schema-driven value generator."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, Literal

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel, Field

from thinkgraph.models._metadata import call_info_of
from thinkgraph.testing import TestModel, value_for_schema


class Color(StrEnum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    street: str
    zip_code: str = Field(min_length=5, max_length=5)


class Person(BaseModel):
    name: str
    age: int = Field(ge=18, le=99)
    score: float = Field(gt=0.5)
    color: Color
    mood: Literal["happy", "sad"]
    tags: list[str] = Field(min_length=2)
    address: Address
    nickname: str | None
    active: bool


@tool
def search(query: str, limit: int, kind: Literal["web", "news"]) -> str:
    """Search."""
    return f"{kind}:{query}:{limit}"


@tool
def lookup(person: Person) -> str:
    """Look a person up."""
    return person.name


async def test_calls_every_bound_tool_then_summarizes_results() -> None:
    model = TestModel()
    bound = model.bind_tools([search, lookup], tool_choice="auto")
    first = await bound.ainvoke([HumanMessage("go")])
    assert [c["name"] for c in first.tool_calls] == ["search", "lookup"]
    assert first.tool_calls[0]["args"] == {"query": "a", "limit": 0, "kind": "web"}
    person = Person.model_validate(first.tool_calls[1]["args"]["person"])
    assert person.age == 18 and person.color is Color.RED and len(person.tags) == 2
    results = [
        ToolMessage(search.invoke(first.tool_calls[0]["args"]), tool_call_id=first.tool_calls[0]["id"]),
        ToolMessage("found", tool_call_id=first.tool_calls[1]["id"], name="lookup"),
    ]
    final = await bound.ainvoke([HumanMessage("go"), first, *results])
    assert json.loads(str(final.content)) == {"search": "web:a:0", "lookup": "found"}
    assert final.tool_calls == []
    for message in (first, final):
        info = call_info_of(message)
        assert info is not None and info["model"] == "scripted/test" and info["provider"] == "scripted"
    assert len(model.conversations) == 2


def test_without_tools_and_with_final_text() -> None:
    assert TestModel().invoke("hi").content == "test response"
    model = TestModel(final_text="all done", model_name="t2", cost_per_call=0.01)
    message = model.invoke(
        [
            HumanMessage("x"),
            AIMessage("", tool_calls=[{"name": "s", "args": {}, "id": "1"}]),
            ToolMessage("r", tool_call_id="1"),
        ]
    )
    assert message.content == "all done"
    info = call_info_of(message)
    assert info is not None and info["cost_usd"] == 0.01 and info["model"] == "scripted/t2"
    assert model._llm_type == "thinkgraph-test"


async def test_structured_output_is_generated_from_the_schema() -> None:
    model = TestModel()
    person = await model.with_structured_output(Person).ainvoke("who?")
    assert isinstance(person, Person)
    assert person.address.zip_code == "aaaaa" and person.score > 0.5
    raw: Any = model.with_structured_output(Person, include_raw=True).invoke("who?")
    assert raw["parsed"] == person and call_info_of(raw["raw"]) is not None


async def test_streaming_tool_calls_and_text() -> None:
    model = TestModel().bind_tools([search])
    chunks: list[Any] = [chunk async for chunk in model.astream("go")]
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert merged.tool_calls[0]["name"] == "search"
    assert [c.content for c in TestModel().stream("x")] == ["test ", "response", ""]


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string", "format": "date-time"}, "2024-01-01T00:00:00Z"),
        ({"type": "string", "format": "email"}, "user@example.com"),
        ({"type": "string", "minLength": 3}, "aaa"),
        ({"type": "string", "format": "uuid", "maxLength": 4}, "0000"),
        ({"type": "integer", "minimum": 5}, 5),
        ({"type": "integer", "minimum": -10, "maximum": -3}, -3),
        ({"type": "integer", "exclusiveMinimum": 0}, 1),
        ({"type": "number", "exclusiveMaximum": 0}, -0.5),
        ({"type": "integer", "minimum": 7, "multipleOf": 5}, 10),
        ({"type": "boolean"}, True),
        ({"type": "null"}, None),
        ({"type": ["null", "integer"]}, 0),
        ({"const": "fixed"}, "fixed"),
        ({"enum": [3, 4]}, 3),
        ({"type": "string", "default": "d"}, "d"),
        ({"anyOf": [{"type": "null"}, {"type": "integer"}]}, 0),
        ({"oneOf": [{"type": "null"}]}, None),
        ({"type": "array", "items": {"type": "integer"}, "minItems": 3, "maxItems": 2}, [0, 0]),
        ({"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]}, ["a", 0]),
        ({"items": {"type": "boolean"}}, [True]),
        ({"properties": {"a": {"type": "integer"}}}, {"a": 0}),
        (
            {
                "allOf": [{"$ref": "#/$defs/A"}, {"properties": {"b": {"type": "string"}}}],
                "$defs": {"A": {"type": "object"}},
            },
            {"b": "a"},
        ),
        ({}, "a"),
        ("not a schema", "a"),
    ],
)
def test_value_for_schema(schema: Any, expected: Any) -> None:
    assert value_for_schema(schema) == expected


def test_recursive_schema_terminates() -> None:
    schema = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "child": {"$ref": "#/$defs/Node"},
                    "kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                },
            }
        },
        "$ref": "#/$defs/Node",
    }
    value = value_for_schema(schema)
    depth = 0
    while value:
        value = value["child"]
        depth += 1
    assert 0 < depth <= 8
