"""Deterministic values that satisfy a JSON schema (types, enums, formats, bounds, required fields)."""

from __future__ import annotations

from typing import Any

__all__ = ["value_for_schema"]

_MAX_DEPTH = 8
_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
    "hostname": "example.com",
    "duration": "P1D",
}


def value_for_schema(schema: Any, root: dict[str, Any] | None = None, _depth: int = 0) -> Any:
    """A deterministic value valid against ``schema`` (a JSON-schema dict).

    Honours ``$ref`` (into ``$defs``/``definitions``), ``const``, ``enum`` (the first value), ``default``,
    ``anyOf``/``oneOf`` (the first non-null branch), ``allOf``, ``type`` (lists too), string formats
    and length bounds, numeric bounds, array sizes and every property of objects.
    """
    if not isinstance(schema, dict):
        return "a"
    root = schema if root is None else root
    if "$ref" in schema:
        return value_for_schema(_resolve(schema["$ref"], root), root, _depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            branches = [b for b in schema[key] if not (isinstance(b, dict) and b.get("type") == "null")]
            return value_for_schema((branches or schema[key])[0], root, _depth + 1)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            resolved = _resolve(part["$ref"], root) if isinstance(part, dict) and "$ref" in part else part
            if isinstance(resolved, dict):
                merged.update(resolved)
        return value_for_schema(merged, root, _depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    return _typed(kind, schema, root, _depth)


def _typed(kind: str, schema: dict[str, Any], root: dict[str, Any], depth: int) -> Any:
    if kind == "string":
        return _string(schema)
    if kind in ("integer", "number"):
        return _number(schema, integer=kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if kind == "array":
        if depth >= _MAX_DEPTH:
            return []
        count = max(1, int(schema.get("minItems", 1)))
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        items = schema.get("items", {})
        if schema.get("prefixItems"):
            return [value_for_schema(s, root, depth + 1) for s in schema["prefixItems"]]
        return [value_for_schema(items, root, depth + 1) for _ in range(count)]
    if depth >= _MAX_DEPTH:
        return {}
    properties = schema.get("properties") or {}
    return {name: value_for_schema(sub, root, depth + 1) for name, sub in properties.items()}


def _string(schema: dict[str, Any]) -> str:
    value = _FORMATS.get(str(schema.get("format", "")), "a")
    low = int(schema.get("minLength", 0))
    if len(value) < low:
        value = value + "a" * (low - len(value))
    if "maxLength" in schema:
        value = value[: int(schema["maxLength"])]
    return value


def _number(schema: dict[str, Any], *, integer: bool) -> int | float:
    step = 1 if integer else 0.5
    value: float = 0
    if "minimum" in schema:
        value = max(value, schema["minimum"])
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        value = schema["exclusiveMinimum"] + step
    if "maximum" in schema and value > schema["maximum"]:
        value = schema["maximum"]
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        value = schema["exclusiveMaximum"] - step
    if schema.get("multipleOf"):
        multiple = schema["multipleOf"]
        value = -(-value // multiple) * multiple
    return int(value) if integer else float(value)


def _resolve(ref: str, root: dict[str, Any]) -> Any:
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        if not part:
            continue
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node
