"""The typer application and its entry point.

Command modules import only typer and thinkgraph's light modules at import time; LangGraph,
litellm, SQLAlchemy engines and rich tables load inside the command that needs them, so
``thinkgraph --help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from thinkgraph._version import __version__
from thinkgraph.cli._inspect import costs_command, db_upgrade_command, history_command, threads_command
from thinkgraph.cli._run import resume_command, run_command
from thinkgraph.cli._static import graph_command, models_check_command

__all__ = ["app", "main"]

app = typer.Typer(
    name="thinkgraph",
    help="Run, inspect and account for thinkgraph reasoning graphs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)
models_app = typer.Typer(help="Check the models a graph uses.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(models_app, name="models")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"thinkgraph {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback when a command fails.")
    ] = False,
) -> None:
    """Run, inspect and account for thinkgraph reasoning graphs."""
    ctx.obj = {"debug": debug}


app.command("run")(run_command)
app.command("resume")(resume_command)
app.command("threads")(threads_command)
app.command("history")(history_command)
app.command("costs")(costs_command)
app.command("graph")(graph_command)
db_app.command("upgrade")(db_upgrade_command)
models_app.command("check")(models_check_command)


def main() -> None:
    """Console-script entry point."""
    app()
