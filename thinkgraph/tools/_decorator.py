"""The ``@tool`` decorator: a function's type hints and docstring become a tool's schema."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, overload

from langchain_core.tools import BaseTool, StructuredTool

from thinkgraph.exceptions import ConfigError

__all__ = ["ThinkgraphTool", "tool", "tool_requires_approval", "tool_timeout"]

#: Key under ``BaseTool.metadata`` where the thinkgraph options of any tool are read from.
OPTIONS_KEY = "thinkgraph"


class ThinkgraphTool(StructuredTool):
    """A langchain-core ``StructuredTool`` with thinkgraph's execution options.

    Attributes:
        timeout: seconds one call may take before the executor gives up on it (``None``: no limit).
        requires_approval: when ``True`` the executor pauses the run for a human before calling it.
    """

    timeout: float | None = None
    requires_approval: bool = False


def _check_options(name: str, timeout: float | None) -> None:
    if timeout is not None and not timeout > 0:
        raise ConfigError(f"tool {name!r}: timeout must be a positive number of seconds, got {timeout!r}")


def _build(
    func: Callable[..., Any],
    *,
    name: str | None,
    description: str | None,
    timeout: float | None,
    requires_approval: bool,
    response_format: str,
) -> ThinkgraphTool:
    tool_name = name or func.__name__
    _check_options(tool_name, timeout)
    if description is None and not (func.__doc__ or "").strip():
        raise ConfigError(
            f"tool {tool_name!r} has no docstring: write one (with an 'Args:' section) or pass description="
        )
    is_async = inspect.iscoroutinefunction(func)
    built = ThinkgraphTool.from_function(
        func=None if is_async else func,
        coroutine=func if is_async else None,
        name=tool_name,
        description=description,
        parse_docstring=True,
        error_on_invalid_docstring=False,
        response_format=response_format,  # type: ignore[arg-type]
        metadata={OPTIONS_KEY: {"timeout": timeout, "requires_approval": requires_approval}},
    )
    assert isinstance(built, ThinkgraphTool)
    built.timeout = timeout
    built.requires_approval = requires_approval
    if is_async:
        # A sync caller (``tool.invoke``) still works: run the coroutine on a private loop.
        coroutine: Callable[..., Awaitable[Any]] = func

        def run_sync(*args: Any, **kwargs: Any) -> Any:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return asyncio.run(_as_coroutine(coroutine(*args, **kwargs)))
            # called synchronously from inside an event loop: use a private loop in a worker thread
            with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
                return pool.submit(asyncio.run, _as_coroutine(coroutine(*args, **kwargs))).result()

        built.func = run_sync
    return built


async def _as_coroutine(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


@overload
def tool(func: Callable[..., Any], /) -> ThinkgraphTool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    requires_approval: bool = False,
    response_format: str = "content",
) -> Callable[[Callable[..., Any]], ThinkgraphTool]: ...


def tool(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    requires_approval: bool = False,
    response_format: str = "content",
) -> ThinkgraphTool | Callable[[Callable[..., Any]], ThinkgraphTool]:
    """Turn a function (sync or ``async``) into a tool a model can call.

    The argument schema comes from the type hints; the description and the per-argument
    descriptions come from the Google-style docstring (its ``Args:`` section).

    Args:
        func: the function, when used as a bare ``@tool``.
        name: the tool's name (default: the function's name).
        description: the description (default: the docstring's summary).
        timeout: seconds one call may take; the executor turns an overrun into an error result.
        requires_approval: pause the run for a human decision before each call.
        response_format: ``"content"`` or ``"content_and_artifact"`` (the function returns a pair).

    Returns:
        A :class:`ThinkgraphTool` (a langchain-core ``StructuredTool``), or a decorator.

    Example:
        >>> @tool(timeout=5)
        ... def add(a: int, b: int) -> int:
        ...     '''Add two integers.
        ...
        ...     Args:
        ...         a: the first.
        ...         b: the second.
        ...     '''
        ...     return a + b
        >>> add.invoke({"a": 1, "b": 2})
        3
    """
    if response_format not in ("content", "content_and_artifact"):
        raise ConfigError(
            f"response_format must be 'content' or 'content_and_artifact', got {response_format!r}"
        )

    def decorate(f: Callable[..., Any]) -> ThinkgraphTool:
        return _build(
            f,
            name=name,
            description=description,
            timeout=timeout,
            requires_approval=requires_approval,
            response_format=response_format,
        )

    if func is not None:
        return decorate(func)
    return decorate


def tool_timeout(t: BaseTool) -> float | None:
    """The timeout of any tool: a :class:`ThinkgraphTool`'s own, else ``metadata["thinkgraph"]``."""
    if isinstance(t, ThinkgraphTool):
        return t.timeout
    options = (t.metadata or {}).get(OPTIONS_KEY) or {}
    value = options.get("timeout")
    return float(value) if value is not None else None


def tool_requires_approval(t: BaseTool) -> bool:
    """Whether any tool requires approval (its own option, else ``metadata["thinkgraph"]``)."""
    if isinstance(t, ThinkgraphTool):
        return t.requires_approval
    options = (t.metadata or {}).get(OPTIONS_KEY) or {}
    return bool(options.get("requires_approval", False))
