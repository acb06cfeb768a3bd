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
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, ClassVar

from sqlalchemy import Executable
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["RawCompiler", "RawStatement", "Record"]

Processor = Callable[[Any], Any]
_REQUIRED = object()  # the default of a bind that has no value of its own: a parameter must give it


class Record(tuple[Any, ...]):
    """A query's row: a tuple whose columns are also attributes, as SQLAlchemy's ``Row``."""

    __slots__ = ()
    _index: ClassVar[dict[str, int]] = {}

    def __getattr__(self, name: str) -> Any:
        try:
            return self[self._index[name]]
        except KeyError:
            raise AttributeError(name) from None


def _record_type(columns: Sequence[str]) -> type[Record]:
    index = {name: i for i, name in enumerate(columns)}
    return type("Record", (Record,), {"__slots__": (), "_index": index})


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
    direct: bool = False  # every bind is a parameter (none takes the statement's own value)
    _record: type[Record] | None = field(default=None, compare=False)

    # for the common case where every bind is a parameter: the values in bind order in one C call,
    # and the positions that need a processor
    _getter: Callable[[Mapping[str, Any]], Any] | None = field(default=None, compare=False)
    _processed: tuple[tuple[int, Processor], ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if self.direct and self.names:
            getter = itemgetter(*self.names)
            if len(self.names) == 1:
                object.__setattr__(self, "_getter", lambda values: (getter(values),))
            else:
                object.__setattr__(self, "_getter", getter)
        processed = tuple((i, p) for i, p in enumerate(self.processors) if p is not None)
        object.__setattr__(self, "_processed", processed)
        if self.columns is not None:
            object.__setattr__(self, "_record", _record_type(self.columns))

    def args(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """The driver parameters for one row of values (keyed by bind name)."""
        try:
            bound = None if self._getter is None else list(self._getter(values))
        except KeyError:  # a row of executemany without some key
            bound = None
        if bound is None:
            bound = [
                values[name] if name in values else self._default(name, default)
                for name, default in zip(self.names, self.defaults, strict=True)
            ]
        for i, process in self._processed:
            bound[i] = process(bound[i])
        return tuple(bound) if self.positional else dict(zip(self.keys, bound, strict=True))

    def _default(self, name: str, default: Any) -> Any:
        if default is _REQUIRED:
            raise ValueError(f"no value for the parameter {name!r} of {self.sql.split()[0]} statement")
        return default

    def many(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """The driver parameters for several rows (for ``executemany``)."""
        return [self.args(row) for row in rows]

    def record(self, row: Sequence[Any]) -> Record:
        """A driver row of a query as a :class:`Record` (its columns' result processors applied)."""
        if self._record is None:  # pragma: no cover - only queries return rows
            raise TypeError("a write statement returns no rows")
        return self._record(
            value if process is None else process(value)
            for value, process in zip(row, self.results, strict=True)
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
        cache_key = (id(statement), keys if isinstance(keys, tuple) else tuple(keys))
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
            defaults=tuple(_REQUIRED if bind.required else bind.effective_value for bind in binds),
            processors=tuple(self._processor(bind.type, False) for bind in binds),
            columns=None if selected is None else tuple(column.key for column in selected),
            results=() if selected is None else tuple(self._processor(c.type, True) for c in selected),
            direct=set(names) <= set(keys),
        )
        self._cache[cache_key] = (statement, raw)
        return raw
