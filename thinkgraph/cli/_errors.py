"""One clear line per error, a distinct exit code per outcome, the traceback under ``--debug``."""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer

from thinkgraph.exceptions import (
    BudgetExceeded,
    ConfigError,
    MissingCredentialsError,
    PersistenceError,
    RunCancelled,
    ThinkgraphError,
)

__all__ = [
    "EXIT_BUDGET",
    "EXIT_CANCELLED",
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_PAUSED",
    "EXIT_USAGE",
    "CliError",
    "fail",
    "is_debug",
    "report_errors",
]

EXIT_OK = 0
EXIT_ERROR = 1  # the run or the command failed
EXIT_USAGE = 2  # wrong arguments (click's own code)
EXIT_PAUSED = 3  # the run waits for a human: resume it with ``thinkgraph resume THREAD``
EXIT_BUDGET = 4  # the run hit its budget: resume it with a higher ``--budget``
EXIT_CANCELLED = 5  # the run was cancelled; its last checkpoint is kept

P = ParamSpec("P")
R = TypeVar("R")


def _control_flow() -> tuple[type[BaseException], ...]:
    """Exceptions typer and click use for exits, aborts and usage errors: never reported as failures."""
    kinds: list[type[BaseException]] = [typer.Exit, typer.Abort]
    base = getattr(typer, "TyperException", None)
    if isinstance(base, type):
        kinds.append(base)
    try:
        import click
    except ImportError:  # pragma: no cover - typer without click
        pass
    else:
        kinds += [click.exceptions.Exit, click.ClickException, click.Abort]
    return tuple(kinds)


class CliError(Exception):
    """A command cannot go on: ``message`` says what and what to do; ``code`` is the exit code."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = EXIT_ERROR) -> CliError:
    """Build a :class:`CliError` to raise (``raise fail("...")``)."""
    return CliError(message, code)


def is_debug(ctx: Any) -> bool:
    """Whether ``--debug`` was given to the root command (read from the command's context)."""
    while ctx is not None:
        if isinstance(ctx.obj, dict) and ctx.obj.get("debug"):
            return True
        ctx = ctx.parent
    return False


def _one_line(exc: BaseException) -> tuple[str, int]:
    """The message and exit code for ``exc``."""
    if isinstance(exc, CliError):
        return str(exc), exc.code
    if isinstance(exc, MissingCredentialsError):
        text = str(exc)
        if "--offline" not in text:
            text += "; or run it offline against the fake provider with --offline"
        return text, EXIT_ERROR
    if isinstance(exc, BudgetExceeded):
        return str(exc), EXIT_BUDGET
    if isinstance(exc, RunCancelled):
        return f"run cancelled: {exc}", EXIT_CANCELLED
    if isinstance(exc, ConfigError | PersistenceError | ThinkgraphError):
        return str(exc), EXIT_ERROR
    if isinstance(exc, FileNotFoundError):
        return f"{exc.strerror or 'file not found'}: {exc.filename!r}", EXIT_ERROR
    return (
        f"unexpected {type(exc).__name__}: {exc} (rerun with --debug to see the traceback)",
        EXIT_ERROR,
    )


def report_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn any exception raised by a command into one line on stderr and a non-zero exit code.

    The command takes a ``ctx: typer.Context`` parameter; ``--debug`` is read from it.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            typer.echo("error: interrupted", err=True)
            raise typer.Exit(130) from None
        except Exception as exc:
            if isinstance(exc, _control_flow()):
                raise
            message, code = _one_line(exc)
            if is_debug(kwargs.get("ctx")):
                traceback.print_exception(exc, file=sys.stderr)
            first, _, rest = message.partition("\n")
            typer.echo(f"error: {first}", err=True)
            if rest:
                typer.echo(rest, err=True)
            raise typer.Exit(code) from None

    return wrapper
