"""Core statements compiled once to the driver's SQL, for the hot writes of the memory layer.

``put`` and ``put_writes`` run after every step of every graph, and the ledger records every
model call. Through a SQLAlchemy ``Connection`` each of them pays for a connection wrapper, an
execution context, a result object and (on a server database) a pool pre-ping round trip, which
together cost more than the statement itself. :class:`RawCompiler` compiles a Core statement for
one parameter shape into the driver's SQL text, the bind processors of its types and, for a
query, the result processors of its columns (through SQLAlchemy's public compiler and type APIs,
so the SQL is what SQLAlchemy would send); :class:`RawStatement` turns values into driver
parameters and driver rows into records, to run on a DBAPI cursor (:meth:`Engines.raw_write`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Executable
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["RawCompiler", "RawStatement"]

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class RawStatement:
    """A statement as the driver takes it: SQL text, and how to build its parameters from values."""

    sql: str
    names: tuple[str, ...]  # bind names, in SQL order for a positional paramstyle
    keys: tuple[str, ...]  # the driver's parameter names (named paramstyles)
    positional: bool
    defaults: tuple[Any, ...]  # the statement's own values of binds that are not parameters
    processors: tuple[Processor | None, ...]
    columns: tuple[str, ...] | None = None  # a query's column names; ``None`` for a write
    results: tuple[Processor | None, ...] = ()

    def args(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """The driver parameters for one row of values (keyed by bind name)."""
        bound = [
            values.get(name, default) if process is None else process(values.get(name, default))
            for name, default, process in zip(self.names, self.defaults, self.processors, strict=True)
        ]
        return tuple(bound) if self.positional else dict(zip(self.keys, bound, strict=True))

    def many(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """The driver parameters for several rows (for ``executemany``)."""
        return [self.args(row) for row in rows]

    def record(self, row: Sequence[Any]) -> SimpleNamespace:
        """A driver row of a query as a record with one attribute per column."""
        if self.columns is None:  # pragma: no cover - only queries return rows
            raise TypeError("a write statement returns no rows")
        return SimpleNamespace(
            **{
                name: value if process is None else process(value)
                for name, value, process in zip(self.columns, row, self.results, strict=True)
            }
        )


class RawCompiler:
    """Compiles statements for one dialect, caching each (statement, parameter names) shape.

    The statements given must be long-lived objects (built once, as the memory layer's hot
    statements are): the cache holds them by identity.
    """

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._cache: dict[tuple[int, tuple[str, ...]], tuple[Executable, RawStatement]] = {}

    def _processor(self, type_: Any, result: bool) -> Processor | None:
        impl = type_.dialect_impl(self.dialect)
        processor: Processor | None = (
            impl.result_processor(self.dialect, None) if result else impl.bind_processor(self.dialect)
        )
        return processor

    def compile(self, statement: Executable, keys: Sequence[str]) -> RawStatement:
        """The compiled form of ``statement`` for values with these keys."""
        cache_key = (id(statement), tuple(keys))
        hit = self._cache.get(cache_key)
        if hit is not None and hit[0] is statement:
            return hit[1]
        compiled = statement.compile(dialect=self.dialect, column_keys=list(keys))  # type: ignore[attr-defined]
        if not isinstance(compiled, SQLCompiler):  # pragma: no cover - Core statements compile so
            raise TypeError(f"cannot compile {type(statement).__name__} to driver SQL")
        names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(compiled.binds)
        escaped: dict[str, str] = compiled.escaped_bind_names or {}
        binds = [compiled.binds[name] for name in names]
        is_query = getattr(statement, "is_select", False)
        selected = getattr(statement, "selected_columns", None) if is_query else None
        raw = RawStatement(
            sql=compiled.string,
            names=names,
            keys=tuple(escaped.get(name, name) for name in names),
            positional=compiled.positional,
            defaults=tuple(bind.effective_value for bind in binds),
            processors=tuple(self._processor(bind.type, False) for bind in binds),
            columns=None if selected is None else tuple(column.key for column in selected),
            results=() if selected is None else tuple(self._processor(c.type, True) for c in selected),
        )
        self._cache[cache_key] = (statement, raw)
        return raw
