"""Core statements compiled once to the driver's SQL, for the checkpointer's hot writes.

``put`` and ``put_writes`` run after every step of every graph. Through a SQLAlchemy
``Connection`` each of them pays for a connection wrapper, an execution context, a result object
and (on a server database) a pool pre-ping round trip, which together cost more than the
statement itself. :class:`RawCompiler` compiles a Core statement for one parameter shape into the
driver's SQL text and the bind processors of its types (through SQLAlchemy's public compiler and
type APIs, so the SQL is the same as SQLAlchemy would send), and :class:`RawStatement` turns row
dicts into driver parameters, to be executed on the DBAPI cursor directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Executable
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["RawCompiler", "RawStatement"]

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class RawStatement:
    """A statement as the driver takes it: SQL text and how to build its parameters from a row."""

    sql: str
    names: tuple[str, ...]  # bind names, in SQL order for a positional paramstyle
    keys: tuple[str, ...]  # the driver's parameter names (named paramstyles)
    positional: bool
    processors: tuple[Processor | None, ...]

    def args(self, row: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """The driver parameters for one row (``row`` maps bind names to values)."""
        values = [
            row[name] if process is None else process(row[name])
            for name, process in zip(self.names, self.processors, strict=True)
        ]
        if self.positional:
            return tuple(values)
        return dict(zip(self.keys, values, strict=True))

    def many(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """The driver parameters for several rows (for ``executemany``)."""
        return [self.args(row) for row in rows]


class RawCompiler:
    """Compiles statements for one dialect, caching each (statement, parameter names) shape.

    The statements given must be long-lived objects (built once, as the checkpointer's write
    statements are): the cache holds them by identity.
    """

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._cache: dict[tuple[int, tuple[str, ...]], tuple[Executable, RawStatement]] = {}

    def compile(self, statement: Executable, keys: Sequence[str]) -> RawStatement:
        """The compiled form of ``statement`` for rows with these keys."""
        cache_key = (id(statement), tuple(keys))
        hit = self._cache.get(cache_key)
        if hit is not None and hit[0] is statement:
            return hit[1]
        compiled = statement.compile(dialect=self.dialect, column_keys=list(keys))  # type: ignore[attr-defined]
        if not isinstance(compiled, SQLCompiler):  # pragma: no cover - DML always compiles so
            raise TypeError(f"cannot compile {type(statement).__name__} to driver SQL")
        names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(compiled.binds)
        escaped: dict[str, str] = compiled.escaped_bind_names or {}
        types = [compiled.binds[name].type.dialect_impl(self.dialect) for name in names]
        processors = tuple(type_.bind_processor(self.dialect) for type_ in types)
        raw = RawStatement(
            sql=compiled.string,
            names=names,
            keys=tuple(escaped.get(name, name) for name in names),
            positional=compiled.positional,
            processors=processors,
        )
        self._cache[cache_key] = (statement, raw)
        return raw
