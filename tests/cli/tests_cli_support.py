"""Helpers for the CLI tests that run the real entry point."""

from __future__ import annotations

import os
import subprocess
import sys


def cli(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m thinkgraph.cli ARGS`` in a subprocess (the real entry point)."""
    return subprocess.run(
        [sys.executable, "-m", "thinkgraph.cli", *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "160", **(env or {})},
        timeout=timeout,
        check=False,
    )
