"""The calculator: arithmetic only, never eval, bounded against denial of service."""

from __future__ import annotations

import math
import time

import pytest

from thinkgraph.exceptions import ToolAccessDenied, ToolInputError
from thinkgraph.tools import calculator, safe_eval


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("1 + 2 * 3", 7),
        ("(2 + 3) * 4 ** 2", 80),
        ("-7 // 2", -4),
        ("7 % 3 + +1", 2),
        ("2 ** -1", 0.5),
        ("sqrt(16) + abs(-2) + max(1, 5, 3) + min(4, 2)", 13.0),
        ("round(pi, 2)", 3.14),
        ("floor(e) + ceil(0.1) + log10(100) + log(1) + exp(0) + sin(0) + cos(0) + tan(0)", 7.0),
        ("2 ** 4000", 2**4000),
    ],
)
def test_arithmetic(expression: str, value: float) -> None:
    assert safe_eval(expression) == value


def test_tool_returns_repr() -> None:
    assert calculator.invoke({"expression": "1 / 4"}) == "0.25"
    assert calculator.timeout == 5.0


@pytest.mark.parametrize(
    "hostile",
    [
        "__import__('os').system('echo pwned')",
        "(1).__class__.__bases__[0].__subclasses__()",
        "open('/etc/passwd').read()",
        "eval('1+1')",
        "[x for x in range(10)]",
        "lambda: 1",
        "'a' * 10",
        "True + 1",
        "x",
        "1 if 1 else 2",
        "1 < 2",
        "sqrt(x=4)",
        "max(" + ",".join("1" * 9) + ")",
        "1 << 100000",
        "globals()",
    ],
)
def test_refuses_anything_but_arithmetic(hostile: str) -> None:
    with pytest.raises(ToolAccessDenied):
        safe_eval(hostile)


@pytest.mark.parametrize(
    "expression",
    [
        "9 ** 9 ** 9",
        "10 ** 100000",
        "2 ** 5000",
        "(10 ** 1000) ** 5",
        "99999 ** 999",
        "2 ** 4096 * 2 ** 4096",
    ],
)
def test_huge_numbers_are_refused_quickly(expression: str) -> None:
    start = time.perf_counter()
    with pytest.raises(ToolAccessDenied, match="use smaller numbers"):
        safe_eval(expression)
    assert time.perf_counter() - start < 0.5


def test_size_and_depth_limits() -> None:
    with pytest.raises(ToolAccessDenied, match="longer than"):
        safe_eval("1+" * 2000 + "1")
    with pytest.raises(ToolAccessDenied, match="nests deeper"):
        safe_eval("-" * 200 + "1")
    with pytest.raises(ToolInputError, match="too many nested parentheses"):
        safe_eval("(" * 600 + "1" + ")" * 600)


@pytest.mark.parametrize("expression", ["1 / 0", "sqrt(-1)", "1 +", "", "1.5 ** 5000", "log(0)"])
def test_bad_arithmetic_is_an_input_error(expression: str) -> None:
    with pytest.raises(ToolInputError):
        safe_eval(expression)


def test_float_results() -> None:
    assert math.isclose(safe_eval("tau / 2"), math.pi)
