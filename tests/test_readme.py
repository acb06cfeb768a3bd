"""Every code block of README.md is executed here, as a reader would run it.

Shell blocks run with bash from a scratch directory that sees the repository's ``.venv`` and
``examples``; the quickstart's Python block is saved as ``quickstart.py`` there first, as the
README says. The database URLs of the README point at fresh databases, and ``THINKGRAPH_HOME`` at
a scratch directory, so nothing touches the reader's files. The test command block is the one
``.ci/run`` executes, so it is checked for that, not run recursively.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from thinkgraph._settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PG_README_URL = "postgresql://postgres@127.0.0.1:5432/test"
MY_README_URL = "mysql://root@127.0.0.1:3306/test"

pytestmark = pytest.mark.slow


def _blocks() -> list[tuple[str, str, str]]:
    """(marker, language, code) of every fenced block, in order; marker is the HTML comment above."""
    pattern = re.compile(r"(?:<!-- ([\w-]+) -->\n)?```(\w*)\n(.*?)```", re.S)
    return [(m.group(1) or "", m.group(2), m.group(3)) for m in pattern.finditer(README.read_text())]


@pytest.fixture
def reader_dir(tmp_path: Path) -> Path:
    """A scratch working directory with the repository's .venv, scripts and examples visible."""
    for name in (".venv", "examples", "scripts", "requirements.lock", "pyproject.toml"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def _bash(code: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    # a crash of a command prints its Python traceback into the failure message
    env = {**os.environ, "THINKGRAPH_HOME": str(home), "PYTHONPATH": str(cwd), "PYTHONFAULTHANDLER": "1"}
    env.pop("THINKGRAPH_DATABASE_URL", None)
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_readme_has_exactly_two_commands_up_front() -> None:
    markers = [marker for marker, _, _ in _blocks() if marker]
    assert markers[:2] == ["main-command", "test-command"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in ci, ".ci/run must run the README's test command"


def test_every_block_runs(reader_dir: Path, tmp_path: Path, postgres_url: str, mariadb_url: str) -> None:
    blocks = _blocks()
    python_blocks = [code for _, lang, code in blocks if lang == "python"]
    (reader_dir / "quickstart.py").write_text(python_blocks[0])
    home = tmp_path / "home"
    for marker, lang, code in blocks:
        if marker == "test-command":
            continue
        where = f"README block ({lang}, {marker or 'unmarked'}):\n{code}"
        if lang == "sh":
            script = code.replace(PG_README_URL, postgres_url).replace(MY_README_URL, mariadb_url)
            result = _bash(script, reader_dir, home)
            assert result.returncode == 0, f"{where}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        elif lang == "python":
            if code == python_blocks[0]:
                continue  # saved as quickstart.py above and run by the next shell block
            result = subprocess.run(
                [sys.executable, "-c", code],
                cwd=reader_dir,
                env={**os.environ, "THINKGRAPH_HOME": str(home), "PYTHONPATH": str(reader_dir)},
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert result.returncode == 0, f"{where}\n{result.stderr}"
            assert "Correct." in result.stdout
        elif lang == "toml":
            config = tmp_path / "thinkgraph.toml"
            config.write_text(code)
            os.environ["THINKGRAPH_CONFIG"] = str(config)
            try:
                settings = load_settings()
            finally:
                del os.environ["THINKGRAPH_CONFIG"]
            assert settings.models, where
        else:
            pytest.fail(f"README block with no runnable language: {where}")
