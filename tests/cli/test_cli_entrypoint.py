"""The real entry point, in subprocesses: help stays light, a terminal approval and a JSON run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests_cli_support import cli

HERE = Path(__file__).parent
EXAMPLES = HERE.parent.parent / "examples"


def test_help_imports_neither_litellm_nor_langgraph() -> None:
    code = (
        "import sys\n"
        "sys.argv = ['thinkgraph', '--help']\n"
        "from thinkgraph.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "roots = ('litellm', 'langgraph', 'langchain_core')\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in roots)\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stderr
    assert "run" in result.stdout and "resume" in result.stdout and "costs" in result.stdout
    timed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "thinkgraph.cli", "run", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert timed.returncode == 0
    imported = {line.split("|")[-1].strip() for line in timed.stderr.splitlines() if "|" in line}
    assert not {m for m in imported if m.split(".")[0] in ("litellm", "langgraph", "langchain_core")}
    assert "--offline" in timed.stdout


def test_version_and_usage_errors(home: Path) -> None:
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == "thinkgraph 0.1.0"
    result = cli("run")
    assert result.returncode == 2 and "Missing argument" in result.stderr


def test_terminal_approval_of_a_refund_on_stdin(home: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'support.db'}"
    result = cli("run", str(EXAMPLES / "support_triage.py"), "T-1001", "--offline", "--db", db, stdin="a\n")
    assert result.returncode == 0, result.stderr
    assert 'approve tool call refund({"amount_eur": 180.0, "order_id": "A-2207"' in result.stderr
    assert "refunded 180.00 EUR on A-2207" in result.stdout
    assert result.stdout.rstrip().endswith(
        "Your refund for order A-2207 has been issued; expect it within 5 days."
    )
    costs = cli("costs", "--db", db, "--by", "node", "--json")
    assert {row["key"] for row in json.loads(costs.stdout)} == {"triage", "refunds"}


def test_json_run_through_the_entry_point(home: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'pipeline.db'}"
    result = cli(
        "run",
        str(EXAMPLES / "data_analyst.py"),
        "Which country brought in the most revenue?",
        "--offline",
        "--db",
        db,
        "--json",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "finished" and "737.00 EUR" in data["answer"]
    assert data["output"]["verification"]["verdict"] == "correct"
    history = cli("history", data["thread_id"], "--db", db, "--json")
    reasoning = [line for step in json.loads(history.stdout) for line in step["reasoning"]]
    assert any(line.startswith("deepseek/deepseek-reasoner: Revenue per country") for line in reasoning)
