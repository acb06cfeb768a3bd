"""The typer application and its entry point."""

from __future__ import annotations

import typer

from thinkgraph._version import __version__

__all__ = ["app", "main"]

app = typer.Typer(
    name="thinkgraph",
    help="Run, inspect and account for thinkgraph reasoning graphs.",
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"thinkgraph {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Run, inspect and account for thinkgraph reasoning graphs."""


def main() -> None:
    """Console-script entry point."""
    app()
