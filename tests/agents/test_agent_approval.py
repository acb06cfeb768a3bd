"""A tool agent pauses for approval in one process and resumes in another from the SQL checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    from agent_fakes import RuleModel
    from langchain_core.messages import HumanMessage, ToolMessage
    from langgraph.types import Command
    from thinkgraph.agents import build_tool_agent
    from thinkgraph.memory import SQLCheckpointer
    from thinkgraph.tools import edit, tool

    URL, PHASE, LOG = sys.argv[1], sys.argv[2], sys.argv[3]

    @tool(requires_approval=True)
    def send_email(to: str, body: str) -> str:
        '''Send an email.

        Args:
            to: the recipient.
            body: the text.
        '''
        with open(LOG, "a") as f:
            f.write(f"sent to {to}\\n")
        return f"sent to {to}"

    def rule(turn):
        done = [m for m in turn.messages if isinstance(m, ToolMessage)]
        if done:
            return f"Done: {done[-1].content}"
        return {"tool": "send_email", "to": "boss@example.com", "body": "hi", "say": "Sending the email."}

    async def main():
        saver = SQLCheckpointer(URL)
        graph = build_tool_agent(RuleModel(rule=rule), [send_email]).compile(checkpointer=saver)
        config = {"configurable": {"thread_id": "approval"}}
        if PHASE == "start":
            result = await graph.ainvoke({"messages": [HumanMessage("email my boss")]}, config)
            print(json.dumps([i.value for i in result["__interrupt__"]]))
        else:
            state = await graph.aget_state(config)
            assert state.next == ("tools",), state.next
            result = await graph.ainvoke(Command(resume=edit({"to": "me@example.com", "body": "hi"})), config)
            print(json.dumps({"outcome": result["outcome"], "last": result["messages"][-1].content,
                              "traces": len(result["traces"])}))
        await saver.aclose()

    asyncio.run(main())
    """
)


def test_pause_and_resume_in_a_new_process(tmp_path: Path) -> None:
    script = tmp_path / "approval.py"
    script.write_text(SCRIPT)
    url, log = f"sqlite:///{tmp_path / 'agent.db'}", tmp_path / "sent.log"
    here = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here), str(here.parents[1])])}

    def run(phase: str) -> object:
        done = subprocess.run(
            [sys.executable, str(script), url, phase, str(log)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    assert run("start") == [
        {
            "type": "tool_approval",
            "tool": "send_email",
            "args": {"to": "boss@example.com", "body": "hi"},
            "tool_call_id": "call_0",
        }
    ]
    assert not log.exists()  # nothing was sent before the decision
    assert run("resume") == {"outcome": "final", "last": "Done: sent to me@example.com", "traces": 2}
    assert log.read_text() == "sent to me@example.com\n"
