"""Search filters of :class:`~thinkgraph.memory.SQLStore`: pushed down to SQL, checked in Python.

The semantics are those of LangGraph's ``InMemoryStore`` with JSON types kept apart:

* ``{"k": v}`` / ``{"k": {"$eq": v}}``: the field equals ``v``; booleans never equal numbers
  (``True != 1``), ``1 == 1.0``; ``None`` matches a missing field or JSON ``null``.
* ``{"k": {"$ne": v}}``: the negation (a missing field is "not equal").
* ``$gt $gte $lt $lte``: with a number, the field must be a number; with a string, a string
  (compared by code point). Anything else never matches, where ``InMemoryStore`` would coerce
  numeric strings and raise on the rest.
* ``{"k": {"a": 1}}``: ``k`` is an object whose ``a`` matches (nesting works at any depth);
  a list matches a list of the same length, element by element.

Scalar conditions on simple field names become SQL (JSON functions of each dialect); the rest
(lists, ``None``, non-ASCII or odd field names) is checked in Python on the rows SQL returned.
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

from thinkgraph.exceptions import ConfigError

__all__ = ["CompiledFilter", "compile_filter", "matches"]

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}
_SQL_COMPARISONS: dict[str, Callable[[ColumnElement[Any], Any], ColumnElement[bool]]] = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}
_OPERATORS = frozenset({"$eq", "$ne", *_COMPARISONS})
_SAFE_LABEL = re.compile(r"[A-Za-z0-9_\- ]{1,128}")  # ASCII: stored JSON escapes other keys


@dataclass(frozen=True, slots=True)
class CompiledFilter:
    """SQL conditions for a filter; ``exact`` when they express all of it (no Python check needed)."""

    conditions: list[ColumnElement[bool]]
    exact: bool


# --- Python -------------------------------------------------------------------------------


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _scalar_eq(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return a is None and b is None


def _deep_eq(a: Any, b: Any) -> bool:
    if isinstance(b, Mapping):
        return isinstance(a, Mapping) and a.keys() == b.keys() and all(_deep_eq(a[k], b[k]) for k in b)
    if isinstance(b, list | tuple):
        return isinstance(a, list | tuple) and len(a) == len(b) and all(map(_deep_eq, a, b))
    return _scalar_eq(a, b)


def _check_operator(op: str, op_value: Any) -> None:
    if op not in _OPERATORS:
        raise ConfigError(f"unsupported filter operator {op!r}: use one of {sorted(_OPERATORS)}")
    if op in _COMPARISONS and not (
        (_is_number(op_value) and math.isfinite(op_value)) or isinstance(op_value, str)
    ):
        raise ConfigError(f"filter operator {op!r} needs a number or a string, got {op_value!r}")


def _apply(value: Any, op: str, op_value: Any) -> bool:
    _check_operator(op, op_value)
    if op == "$eq":
        return _deep_eq(value, op_value)
    if op == "$ne":
        return not _deep_eq(value, op_value)
    if isinstance(op_value, str):
        return isinstance(value, str) and _COMPARISONS[op](value, op_value)
    return _is_number(value) and _COMPARISONS[op](value, op_value)


def _compare(value: Any, filter_value: Any) -> bool:
    if isinstance(filter_value, Mapping):
        if any(str(k).startswith("$") for k in filter_value):
            return all(_apply(value, op, ov) for op, ov in filter_value.items())
        return isinstance(value, Mapping) and all(_compare(value.get(k), v) for k, v in filter_value.items())
    if isinstance(filter_value, list | tuple):
        return (
            isinstance(value, list | tuple)
            and len(value) == len(filter_value)
            and all(map(_compare, value, filter_value))
        )
    return _scalar_eq(value, filter_value)


def matches(value: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    """Whether an item's value satisfies a search filter (the reference semantics).

    Raises:
        ConfigError: an unknown operator, or a comparison with something other than a number or string.
    """
    return not filter or all(_compare(value.get(k), fv) for k, fv in filter.items())


# --- SQL ----------------------------------------------------------------------------------


class _Json:
    """JSON access for one dialect: the type of the value at a path, its text and number."""

    def __init__(self, column: ColumnElement[Any], dialect: str) -> None:
        self.column = column
        self.dialect = dialect
        if dialect == "sqlite":
            self.kinds = {"string": ("text",), "number": ("integer", "real"), "object": ("object",)}
        elif dialect == "postgresql":
            self.kinds = {"string": ("string",), "number": ("number",), "object": ("object",)}
        else:
            self.kinds = {
                "string": ("STRING",),
                "number": ("INTEGER", "DOUBLE", "DECIMAL", "UNSIGNED INTEGER"),
                "object": ("OBJECT",),
            }

    @staticmethod
    def _path(path: tuple[str, ...]) -> str:
        return "$" + "".join(f'."{label}"' for label in path)

    def _extract(self, path: tuple[str, ...]) -> ColumnElement[Any]:
        if self.dialect == "postgresql":
            return sa.func.jsonb_extract_path(self.column, *path, type_=postgresql.JSONB)
        if self.dialect == "sqlite":
            return sa.func.json_extract(self.column, self._path(path))
        return sa.func.JSON_EXTRACT(self.column, self._path(path))

    def type_of(self, path: tuple[str, ...]) -> ColumnElement[Any]:
        if self.dialect == "postgresql":
            return sa.func.jsonb_typeof(self._extract(path))
        if self.dialect == "sqlite":
            return sa.func.json_type(self.column, self._path(path))
        return sa.func.JSON_TYPE(self._extract(path))

    def is_kind(self, path: tuple[str, ...], kind: str) -> ColumnElement[bool]:
        return self.type_of(path).in_(self.kinds[kind])

    def _text(self, path: tuple[str, ...]) -> ColumnElement[Any]:
        """The string at ``path``, compared byte for byte."""
        if self.dialect == "postgresql":
            return sa.collate(sa.func.jsonb_extract_path_text(self.column, *path), "C")
        if self.dialect == "sqlite":
            return self._extract(path)
        return sa.cast(sa.func.JSON_UNQUOTE(self._extract(path)), sa.LargeBinary)

    def _number(self, path: tuple[str, ...]) -> ColumnElement[Any]:
        if self.dialect == "postgresql":
            return sa.cast(sa.func.jsonb_extract_path_text(self.column, *path), sa.Double)
        if self.dialect == "sqlite":
            return self._extract(path)
        return self._extract(path) + 0

    def _string_param(self, s: str) -> Any:
        if self.dialect in ("sqlite", "postgresql"):
            return s
        return sa.cast(sa.literal(s, sa.String), sa.LargeBinary)

    def equals(self, path: tuple[str, ...], v: str | bool | float) -> ColumnElement[bool]:
        if self.dialect == "postgresql":
            return self._extract(path) == sa.cast(sa.literal(json.dumps(v), sa.String), postgresql.JSONB)
        if isinstance(v, bool):
            if self.dialect == "sqlite":
                return self.type_of(path) == ("true" if v else "false")
            return sa.and_(
                self.type_of(path) == "BOOLEAN",
                sa.func.JSON_UNQUOTE(self._extract(path)) == ("true" if v else "false"),
            )
        if isinstance(v, str):
            return sa.and_(self.is_kind(path, "string"), self._text(path) == self._string_param(v))
        return sa.and_(self.is_kind(path, "number"), self._guarded(path, "number") == v)

    def _guarded(self, path: tuple[str, ...], kind: str) -> ColumnElement[Any]:
        value = self._text(path) if kind == "string" else self._number(path)
        return sa.case((self.is_kind(path, kind), value), else_=sa.null())

    def compare(self, path: tuple[str, ...], op: str, v: str | float) -> ColumnElement[bool]:
        if isinstance(v, str):
            guarded, param = self._guarded(path, "string"), self._string_param(v)
        else:
            guarded, param = self._guarded(path, "number"), v
        return _SQL_COMPARISONS[op](guarded, param)


def _pushable_scalar(v: Any) -> bool:
    return isinstance(v, str | bool) or (_is_number(v) and math.isfinite(v))


class _Compiler:
    def __init__(self, json_ops: _Json) -> None:
        self.json = json_ops
        self.conditions: list[ColumnElement[bool]] = []
        self.exact = True

    def walk(self, path: tuple[str, ...], filter_value: Any) -> None:
        if isinstance(filter_value, Mapping):
            if any(str(k).startswith("$") for k in filter_value):
                for op, op_value in filter_value.items():
                    self.leaf(path, op, op_value)
            elif not filter_value:
                self.exact = False
            else:
                for k, v in filter_value.items():
                    self.walk((*path, str(k)), v)
        elif isinstance(filter_value, list | tuple):
            self.exact = False
        else:
            self.leaf(path, "$eq", filter_value)

    def leaf(self, path: tuple[str, ...], op: str, op_value: Any) -> None:
        _check_operator(op, op_value)
        if not all(_SAFE_LABEL.fullmatch(label) for label in path) or not _pushable_scalar(op_value):
            self.exact = False
            return
        # every level above the leaf must be an object (PostgreSQL would index into arrays)
        self.conditions.extend(self.json.is_kind(path[:i], "object") for i in range(1, len(path)))
        if op == "$eq":
            self.conditions.append(self.json.equals(path, op_value))
        elif op == "$ne":
            self.conditions.append(sa.case((self.json.equals(path, op_value), 1), else_=0) == 0)
        else:
            self.conditions.append(self.json.compare(path, op, op_value))


def compile_filter(
    filter: Mapping[str, Any] | None, column: ColumnElement[Any], dialect: str
) -> CompiledFilter:
    """SQL conditions on the JSON ``column`` for ``filter`` on ``dialect``.

    Raises:
        ConfigError: an unknown operator, or a comparison with something other than a number or string.
    """
    compiler = _Compiler(_Json(column, dialect))
    for key, filter_value in (filter or {}).items():
        compiler.walk((str(key),), filter_value)
    return CompiledFilter(compiler.conditions, compiler.exact)
