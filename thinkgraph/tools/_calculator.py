"""A calculator tool: arithmetic parsed with ``ast`` against a whitelist, never ``eval``."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from thinkgraph.exceptions import ToolAccessDenied, ToolInputError
from thinkgraph.tools._decorator import ThinkgraphTool, tool

__all__ = ["calculator", "safe_eval"]

MAX_EXPRESSION_CHARS = 2_000
MAX_DEPTH = 50
MAX_INT_BITS = 4_096
MAX_EXPONENT = 10_000

Number = int | float

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "log": math.log,
    "log10": math.log10,
    "exp": math.exp,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "floor": math.floor,
    "ceil": math.ceil,
}
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}


def _check_size(value: Any) -> Number:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ToolInputError(f"the result {value!r} is not a number")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ToolAccessDenied(f"an intermediate result exceeds {MAX_INT_BITS} bits; use smaller numbers")
    return value


def _pow(base: Number, exponent: Number) -> Number:
    if abs(exponent) > MAX_EXPONENT:
        raise ToolAccessDenied(
            f"the exponent {exponent!r} is larger than {MAX_EXPONENT}; use smaller numbers"
        )
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and max(base.bit_length() - 1, 0) * exponent > MAX_INT_BITS
    ):
        raise ToolAccessDenied(
            f"{base!r} ** {exponent!r} would exceed {MAX_INT_BITS} bits; use smaller numbers"
        )
    return _check_size(base**exponent)


def _eval(node: ast.AST, depth: int) -> Number:
    if depth > MAX_DEPTH:
        raise ToolAccessDenied(f"the expression nests deeper than {MAX_DEPTH} levels")
    if isinstance(node, ast.Expression):
        return _eval(node.body, depth + 1)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ToolAccessDenied(f"only numbers are allowed, not {node.value!r}")
        return _check_size(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left, depth + 1), _eval(node.right, depth + 1)
        if isinstance(node.op, ast.Pow):
            return _pow(left, right)
        return _check_size(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _check_size(_UNARY[type(node.op)](_eval(node.operand, depth + 1)))
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
        and 0 < len(node.args) <= 8
    ):
        args = [_eval(a, depth + 1) for a in node.args]
        return _check_size(_FUNCTIONS[node.func.id](*args))
    allowed = ", ".join(sorted([*_FUNCTIONS, *_CONSTANTS]))
    raise ToolAccessDenied(
        f"{ast.dump(node)[:80]!r} is not allowed: use numbers, + - * / // % **, parentheses and {allowed}"
    )


def safe_eval(expression: str) -> Number:
    """Evaluate an arithmetic expression without ``eval``.

    Raises:
        ToolAccessDenied: the expression uses anything outside the whitelist or is too big.
        ToolInputError: it is not valid arithmetic (syntax, division by zero, math domain).
    """
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ToolAccessDenied(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError) as exc:
        raise ToolInputError(f"{expression[:200]!r} is not a valid arithmetic expression: {exc}") from None
    except (RecursionError, MemoryError):
        raise ToolAccessDenied(f"the expression nests deeper than {MAX_DEPTH} levels") from None
    try:
        return _eval(tree, 0)
    except (ZeroDivisionError, ValueError, OverflowError, TypeError) as exc:
        raise ToolInputError(f"cannot evaluate {expression[:200]!r}: {exc}") from None


def _calculator(expression: str) -> str:
    """Evaluate an arithmetic expression exactly.

    Supports numbers, + - * / // % ** and parentheses, the constants pi, e, tau and the functions
    abs, round, min, max, sqrt, log, log10, exp, sin, cos, tan, floor, ceil.

    Args:
        expression: the expression, for example "(2 + 3) * 4 ** 2".
    """
    return repr(safe_eval(expression))


calculator: ThinkgraphTool = tool(name="calculator", timeout=5.0)(_calculator)
