"""What every command shares: the database in use, consoles, model overrides from the command line."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import typer

from thinkgraph.cli._errors import fail

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "DB_HELP",
    "database_url",
    "display_url",
    "err_console",
    "out_console",
    "parse_model_overrides",
    "show_database",
]

DB_HELP = "Database URL (default: THINKGRAPH_DATABASE_URL, thinkgraph.toml, or the embedded SQLite file)."


def database_url(db: str | None) -> str:
    """The database to use: ``--db`` when given, else the settings' ``database_url``."""
    if db is not None:
        if not db.strip():
            raise fail("--db is empty; give a database URL such as sqlite:///runs.db")
        return db.strip()
    from thinkgraph._settings import load_settings

    return load_settings().database_url


def display_url(url: str) -> str:
    """``url`` with any password hidden, for printing."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        raise fail(
            f"{url!r} is not a database URL; use e.g. sqlite:///runs.db, postgresql://user@host/db "
            "or mysql://user@host/db"
        ) from None


def show_database(url: str) -> None:
    """Say which database the command uses (on stderr, so machine output stays clean)."""
    typer.echo(f"database: {display_url(url)}", err=True)


def out_console() -> Console:
    """A console on stdout."""
    from rich.console import Console

    console = Console(file=sys.stdout, highlight=False, soft_wrap=False)
    if not console.is_terminal:  # logs and pipes: wide enough that model names are not cut
        console = Console(file=sys.stdout, highlight=False, soft_wrap=False, width=max(console.width, 140))
    return console


def err_console() -> Console:
    """A console on stderr."""
    from rich.console import Console

    return Console(file=sys.stderr, highlight=False)


def parse_model_overrides(values: list[str] | None) -> dict[str, list[Any]]:
    """``["node=provider/model", "node=a,b", 'node={"model": ..., "api_base": ...}']`` by node.

    A comma-separated value is a chain: the primary model, then its fallbacks. A JSON object is
    one model spec (for ``api_base``, ``timeout``...; never a key: name it with ``api_key_env``).
    ``*`` as the node applies to every node.
    """
    overrides: dict[str, list[Any]] = {}
    for value in values or []:
        node, sep, model = value.partition("=")
        node, model = node.strip(), model.strip()
        if not sep or not node or not model:
            raise fail(f"--model {value!r} must look like NODE=provider/model (or NODE=primary,fallback)")
        if model.startswith("{"):
            try:
                spec = json.loads(model)
            except ValueError as exc:
                raise fail(f"--model {node}=... is not a valid JSON model spec: {exc}") from None
            if not isinstance(spec, dict) or not isinstance(spec.get("model"), str):
                raise fail(f"--model {node}=... must be a JSON object with a 'model' string")
            overrides[node] = [spec]
            continue
        chain = [m.strip() for m in model.split(",") if m.strip()]
        for item in chain:
            if "/" not in item:
                raise fail(
                    f"--model {value!r}: {item!r} must look like provider/model, e.g. openai/gpt-4o-mini"
                )
        overrides[node] = chain
    return overrides
