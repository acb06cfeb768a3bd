"""The @tool decorator: schema from hints and docstring, options readable from the tool."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.tools import StructuredTool
from pydantic import ValidationError

from thinkgraph.exceptions import ConfigError
from thinkgraph.tools import ThinkgraphTool, tool, tool_requires_approval, tool_timeout


@tool
def add(a: int, b: int = 2) -> int:
    """Add two integers.

    Args:
        a: the first addend.
        b: the second addend.
    """
    return a + b


@tool(name="mul", timeout=1.5, requires_approval=True)
async def multiply(a: float, b: float) -> float:
    """Multiply two numbers.

    Args:
        a: the first factor.
        b: the second factor.
    """
    await asyncio.sleep(0)
    return a * b


def test_schema_from_hints_and_docstring() -> None:
    assert isinstance(add, ThinkgraphTool) and isinstance(add, StructuredTool)
    assert add.name == "add"
    assert add.description == "Add two integers."
    assert add.args["a"] == {"description": "the first addend.", "title": "A", "type": "integer"}
    assert add.args["b"]["default"] == 2
    assert add.invoke({"a": 1}) == 3
    with pytest.raises(ValidationError):
        add.invoke({"a": "not a number"})


async def test_async_tool_and_options() -> None:
    assert multiply.name == "mul"
    assert multiply.timeout == 1.5 and multiply.requires_approval is True
    assert tool_timeout(multiply) == 1.5 and tool_requires_approval(multiply) is True
    assert multiply.metadata == {"thinkgraph": {"timeout": 1.5, "requires_approval": True}}
    assert await multiply.ainvoke({"a": 2, "b": 4}) == 8.0
    # the sync path of an async tool works too
    assert multiply.invoke({"a": 3, "b": 3}) == 9.0
    assert tool_timeout(add) is None and tool_requires_approval(add) is False


def test_plain_langchain_tool_options_from_metadata() -> None:
    def f(x: int) -> int:
        """Identity."""
        return x

    plain = StructuredTool.from_function(
        f, metadata={"thinkgraph": {"timeout": 3, "requires_approval": True}}
    )
    assert tool_timeout(plain) == 3.0 and tool_requires_approval(plain) is True
    bare = StructuredTool.from_function(f)
    assert tool_timeout(bare) is None and tool_requires_approval(bare) is False


def test_content_and_artifact() -> None:
    @tool(response_format="content_and_artifact")
    def rows(n: int) -> tuple[str, list[int]]:
        """Make rows.

        Args:
            n: how many.
        """
        return f"{n} rows", list(range(n))

    message = rows.invoke({"type": "tool_call", "name": "rows", "args": {"n": 2}, "id": "1"})
    assert message.content == "2 rows" and message.artifact == [0, 1]


def test_mistakes_are_config_errors() -> None:
    def undocumented(x: int) -> int:
        return x

    with pytest.raises(ConfigError, match="'undocumented' has no docstring"):
        tool(undocumented)
    assert tool(description="Identity.")(undocumented).invoke({"x": 4}) == 4
    with pytest.raises(ConfigError, match="timeout must be a positive"):
        tool(timeout=0)(add.func)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="response_format"):
        tool(response_format="json")
