"""The package surface, import hygiene, the error tree and settings."""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import thinkgraph
from thinkgraph import exceptions as exc
from thinkgraph._settings import default_database_url, load_settings

SUBPACKAGES = ["models", "agents", "graphs", "tools", "memory", "testing", "cli"]


def _fresh_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
    )


def test_import_loads_no_litellm_or_langgraph_and_no_network() -> None:
    code = (
        "import socket, sys\n"
        "def boom(*a, **k): raise SystemExit('network at import')\n"
        "socket.socket.connect = boom; socket.getaddrinfo = boom\n"
        "import thinkgraph, thinkgraph.exceptions, thinkgraph.cli\n"
        "print(sorted(m for m in ('litellm', 'langgraph', 'langchain_core') if m in sys.modules))\n"
    )
    result = _fresh_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(("preset", "expected"), [(None, "True"), ("False", "False")])
def test_litellm_cost_map_is_local_unless_user_chose(preset: str | None, expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP"}
    if preset is not None:
        env["LITELLM_LOCAL_MODEL_COST_MAP"] = preset
    code = (
        "import os\nfrom thinkgraph._litellm import load_litellm\n"
        "m = load_litellm(); print(m.__name__, os.environ['LITELLM_LOCAL_MODEL_COST_MAP'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["litellm", expected]


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_subpackages_declare_their_public_surface(name: str) -> None:
    module = importlib.import_module(f"thinkgraph.{name}")
    exported = module.__all__
    assert isinstance(exported, list)
    assert len(set(exported)) == len(exported)  # ordering is ruff's RUF022 (isort-style)
    for symbol in exported:
        assert getattr(module, symbol) is not None
        assert not symbol.startswith("_") or symbol == "__version__"


def test_top_level_surface() -> None:
    assert thinkgraph.__version__ == "0.1.0"
    for name in thinkgraph.__all__:
        assert getattr(thinkgraph, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = thinkgraph.nope  # type: ignore[attr-defined]
    assert set(thinkgraph.__all__) <= set(dir(thinkgraph))


def test_error_tree_families_are_disjoint() -> None:
    assert issubclass(exc.ConfigError, exc.ThinkgraphError)
    assert issubclass(exc.ConfigError, ValueError)
    for name in exc.__all__:
        cls = getattr(exc, name)
        if name == "Attempt":
            continue
        assert issubclass(cls, exc.ThinkgraphError), name
        families = [f for f in (exc.ConfigError, exc.RunError, exc.Signal) if issubclass(cls, f)]
        assert len(families) <= 1, name
        assert cls.__name__ in (exc.__doc__ or ""), f"{name} missing from the tree drawing"


def test_provider_error_classification_flags() -> None:
    for retryable in (exc.RateLimitedError, exc.ProviderUnavailableError, exc.ProviderTimeoutError):
        assert retryable.retryable and retryable.falls_over
    for no_retry in (exc.AuthenticationError, exc.ContentFilteredError):
        assert not no_retry.retryable and no_retry.falls_over
    assert not exc.BadRequestError.falls_over
    err = exc.RateLimitedError("slow down", model="openai/gpt-4o", status_code=429, retry_after=2.0)
    assert str(err) == "'openai/gpt-4o': slow down"
    assert (err.status_code, err.retry_after) == (429, 2.0)


def test_all_providers_failed_lists_every_attempt() -> None:
    attempts = [
        exc.Attempt("openai/gpt-4o", "openai", "RateLimitedError", "429", 0.012),
        exc.Attempt("anthropic/claude", "anthropic", "ProviderUnavailableError", "", 0.0, skipped=True),
    ]
    err = exc.AllProvidersFailed(attempts)
    assert err.attempts == tuple(attempts)
    text = str(err)
    assert "2 model(s)" in text and "2 attempt(s)" in text
    assert "openai/gpt-4o [openai]: RateLimitedError after 12 ms: 429" in text
    assert "skipped: circuit open" in text


def test_messages_say_what_to_do() -> None:
    assert "pip install 'thinkgraph[postgres]'" in str(exc.MissingDependencyError("PostgreSQL", "postgres"))
    missing = exc.MissingCredentialsError(["OPENAI_API_KEY", "ANTHROPIC_API_KEY"], hint="use --offline")
    assert missing.variables == ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")
    assert str(missing).endswith("OPENAI_API_KEY, ANTHROPIC_API_KEY or use --offline")
    budget = exc.BudgetExceeded("cost_usd", 0.5, 0.51, thread_id="t1")
    assert "resume the thread with a higher budget" in str(budget) and "'t1'" in str(budget)
    assert budget.limit == "cost_usd"


def test_settings_sources_and_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("THINKGRAPH_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("THINKGRAPH_HOME", str(tmp_path / "home"))
    assert load_settings().database_url == f"sqlite:///{tmp_path / 'home' / 'thinkgraph.db'}"
    (tmp_path / "thinkgraph.toml").write_text(
        'default_model = "openai/gpt-4o-mini"\nlog_level = "INFO"\n'
        '[models]\nplanner = "deepseek/deepseek-reasoner"\n'
        'critic = { model = "anthropic/claude-sonnet-4", timeout = 30 }\n'
    )
    settings = load_settings()
    assert settings.default_model == "openai/gpt-4o-mini"
    assert settings.models["planner"] == "deepseek/deepseek-reasoner"
    assert settings.models["critic"] == {"model": "anthropic/claude-sonnet-4", "timeout": 30}
    monkeypatch.setenv("THINKGRAPH_MODELS__planner", "openai/o3")
    monkeypatch.setenv("THINKGRAPH_DATABASE_URL", "postgresql://u@127.0.0.1/db")
    settings = load_settings()
    assert settings.models["planner"] == "openai/o3"
    assert settings.database_url == "postgresql://u@127.0.0.1/db"
    assert load_settings(log_level="DEBUG").log_level == "DEBUG"


def test_settings_errors_are_config_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("THINKGRAPH_LOG_LEVEL", "LOUD")
    with pytest.raises(exc.ConfigError, match="log_level"):
        load_settings()
    monkeypatch.delenv("THINKGRAPH_LOG_LEVEL")
    monkeypatch.setenv("THINKGRAPH_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(exc.ConfigError, match="not a file"):
        load_settings()
    bad = tmp_path / "bad.toml"
    bad.write_text("default_model = [unclosed")
    monkeypatch.setenv("THINKGRAPH_CONFIG", str(bad))
    with pytest.raises(exc.ConfigError, match="cannot read thinkgraph settings"):
        load_settings()


def test_default_database_honours_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("THINKGRAPH_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_database_url() == f"sqlite:///{tmp_path / 'thinkgraph' / 'thinkgraph.db'}"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_database_url().endswith(".local/share/thinkgraph/thinkgraph.db")


def test_guard_refuses_non_loopback_and_allows_loopback() -> None:
    with pytest.raises(exc.NetworkForbiddenError, match="only loopback"):
        socket.create_connection(("203.0.113.7", 443), timeout=1)
    with pytest.raises(exc.NetworkForbiddenError, match="refused to resolve 'api.openai.com'"):
        socket.getaddrinfo("api.openai.com", 443)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    with server, socket.create_connection(server.getsockname(), timeout=1):
        pass
