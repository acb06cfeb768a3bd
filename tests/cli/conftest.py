"""Fixtures for the CLI tests: an isolated THINKGRAPH_HOME, no API keys, small graph files."""

from __future__ import annotations

from pathlib import Path

import pytest

KEY_VARIABLES = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "DEEPSEEK_API_KEY",
    "GEMINI_API_KEY",
    "XAI_API_KEY",
    "MISTRAL_API_KEY",
    "AZURE_API_KEY",
    "GROQ_API_KEY",
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """THINKGRAPH_HOME in a temporary directory, no database URL or API keys from the user."""
    home = tmp_path / "home"
    monkeypatch.setenv("THINKGRAPH_HOME", str(home))
    for name in ("THINKGRAPH_DATABASE_URL", "THINKGRAPH_CONFIG", "THINKGRAPH_DEFAULT_MODEL", *KEY_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return home
