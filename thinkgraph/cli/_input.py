"""The input of a run: an argument, a file or stdin, as JSON when it parses, as text otherwise."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

from thinkgraph.cli._errors import fail

__all__ = ["parse_input", "read_input"]


def parse_input(text: str) -> Any:
    """JSON when ``text`` is a JSON object or array, the text itself otherwise."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except ValueError as exc:
            raise fail(
                f"the input looks like JSON but does not parse ({exc}); fix it or pass plain text"
            ) from None
    return stripped


def read_input(
    argument: str | None, input_file: Path | None, *, stdin: TextIO | None = None, required: bool = True
) -> tuple[Any, bool]:
    """The run's input and whether stdin was consumed to read it.

    Args:
        argument: the input given on the command line, if any.
        input_file: a file to read it from (``-`` for stdin), if any.
        stdin: the stream to read when neither is given and it is not a terminal.
        required: whether a missing input is an error.

    Returns:
        The parsed input (``None`` when there is none and it is not required) and whether stdin was read.
    """
    stream = stdin if stdin is not None else sys.stdin
    if argument is not None and input_file is not None:
        raise fail("give the input either as an argument or with --input-file, not both")
    if argument is not None:
        return parse_input(argument), False
    if input_file is not None:
        if str(input_file) == "-":
            return parse_input(stream.read()), True
        try:
            text = input_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise fail(f"cannot read --input-file {str(input_file)!r}: {exc.strerror or exc}") from None
        if input_file.suffix.lower() == ".json":
            try:
                return json.loads(text), False
            except ValueError as exc:
                raise fail(f"--input-file {str(input_file)!r} is not valid JSON: {exc}") from None
        return parse_input(text), False
    if stream is not None and not _isatty(stream):
        text = stream.read()
        if text.strip():
            return parse_input(text), True
    if required:
        raise fail("no input: pass it as an argument, with --input-file FILE, or on stdin")
    return None, False


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
