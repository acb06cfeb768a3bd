"""A research assistant that plans, researches a local corpus in parallel, and has its answer checked.

What it shows: plan-and-execute over the short documents in ``examples/data/corpus/`` with two
tools (``search_documents`` and ``read_document``). Three vendors, one per role:

* ``planner`` — a reasoning model (``deepseek/deepseek-reasoner``) writes the plan (a dependency
  graph of steps; independent steps run in parallel) and decides when the goal is met; its
  reasoning is recorded;
* ``executor`` — a fast, cheap model (``openai/gpt-4o-mini``, falling back to Claude Haiku, then
  Mistral) carries out each step with the tools;
* ``critic`` — a third vendor (``anthropic/claude-sonnet-4-5``) checks that the final answer is
  supported by the steps' findings.

``planner`` and ``executor`` are models inside the ``research`` node (``graph.model_for(...)``),
each with its own model, fallbacks, accounting and run-time override (``--model executor=...``).

Run it offline (no API key needed; the fake provider follows the plan, step by step)::

    thinkgraph run examples/research_assistant.py --offline \
        "Are heat pumps a good choice for a house in a cold climate, and what do they cost?"

Run it live (DEEPSEEK_API_KEY, OPENAI_API_KEY, ANTHROPIC_API_KEY; MISTRAL_API_KEY for the last fallback)::

    thinkgraph run examples/research_assistant.py "What should I check before installing a heat pump?"
    thinkgraph run examples/research_assistant.py -m executor=ollama_chat/llama3.1 "..."   # a local executor
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import AnyMessage, HumanMessage, SystemMessage
from langgraph.graph.message import add_messages
from pydantic import BaseModel, Field

from thinkgraph.agents import StepResult, build_plan_execute_agent, merge_results
from thinkgraph.graphs import END, START, Graph
from thinkgraph.testing import FakeRequest, Reply, ToolCall
from thinkgraph.tools import FileSandbox, tool

CORPUS = Path(__file__).parent / "data" / "corpus"
_sandbox = FileSandbox(CORPUS)


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2}


@tool
def search_documents(query: str) -> str:
    """Find the documents of the corpus that best match a query.

    Args:
        query: a few keywords.
    """
    wanted = _words(query)
    scored = []
    for path in sorted(CORPUS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        score = len(wanted & _words(text))
        if score:
            first = text.strip().splitlines()[0]
            scored.append((score, path.name, first))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return json.dumps(
        [{"document": name, "title": title, "matches": score} for score, name, title in scored[:3]]
    )


@tool
def read_document(name: str) -> str:
    """Read one document of the corpus.

    Args:
        name: the document's file name, as search_documents returns it.
    """
    return _sandbox.read(name)


class Verdict(BaseModel):
    """The critic's check of the final answer."""

    thought: str = Field(description="your reasoning")
    supported: Literal["yes", "partly", "no"] = Field(description="is every claim backed by the findings?")
    notes: str = Field(description="what is missing or wrong; empty when fully supported")


class State(TypedDict, total=False):
    """The plan-and-execute state (shared with the ``research`` subgraph) plus the critic's review."""

    messages: Annotated[list[AnyMessage], add_messages]
    plan: dict[str, Any] | None
    plan_version: int
    results: Annotated[dict[str, StepResult], merge_results]
    replans: int
    final_answer: str | None
    outcome: str | None
    review: dict[str, Any]
    answer: str


async def critic(state: State, model: Any) -> dict[str, Any]:
    """Check the final answer against what the steps found."""
    findings = "\n".join(f"- {k}: {v['output']}" for k, v in (state.get("results") or {}).items() if v)
    answer = state.get("final_answer") or ""
    verdict = await model.with_structured_output(Verdict).ainvoke(
        [
            SystemMessage("You check that an answer is supported by the research findings."),
            HumanMessage(f"Findings:\n{findings}\n\nAnswer:\n{answer}"),
        ]
    )
    note = (
        "" if verdict.supported == "yes" else f"\n\n(Critic: {verdict.supported} supported — {verdict.notes})"
    )
    return {"review": verdict.model_dump(), "answer": answer + note}


def build_graph() -> Graph:
    """research (planner + executor models, tools) → critic."""
    graph = Graph(State, name="research_assistant")
    graph.set_model("planner", "deepseek/deepseek-reasoner", model_timeout=120)
    graph.set_model(
        "executor",
        "openai/gpt-4o-mini",
        fallbacks=["anthropic/claude-haiku-4-5", "mistral/mistral-small-latest"],
        model_timeout=60,
    )
    research = build_plan_execute_agent(
        graph.model_for("planner"),
        graph.model_for("executor"),
        tools=[search_documents, read_document],
        max_replans=1,
        max_step_iterations=5,
    ).compile()
    graph.add_node("research", research)
    graph.add_node("critic", critic, model="anthropic/claude-sonnet-4-5")
    graph.add_edge(START, "research")
    graph.add_edge("research", "critic")
    graph.add_edge("critic", END)
    return graph


# --- offline script ------------------------------------------------------------------------------

PLAN = {
    "goal": "Judge whether a heat pump suits a house in a cold climate, and what it costs.",
    "rationale": (
        "Performance in the cold and the costs are independent questions, so they can be researched "
        "in parallel; the recommendation needs both."
    ),
    "steps": [
        {
            "id": "s1",
            "description": "Find how well air-source heat pumps work at low outdoor temperatures.",
            "depends_on": [],
            "expected_output": "COP at low temperatures and the lowest working temperature",
        },
        {
            "id": "s2",
            "description": "Find the installation cost, running cost and payback of a heat pump.",
            "depends_on": [],
            "expected_output": "price ranges and payback years",
        },
        {
            "id": "s3",
            "description": "Combine the findings into a recommendation.",
            "depends_on": ["s1", "s2"],
            "expected_output": "a short recommendation",
        },
    ],
}
STEPS = {
    "s1": (
        "cold climate COP temperature",
        "cold_climates.txt",
        "Modern cold-climate units keep a COP near 2 at -15 °C and run down to about -25 °C; sizing "
        "for the site's design temperature avoids costly backup heat.",
    ),
    "s2": (
        "cost installation payback",
        "costs.txt",
        "Air-source units cost 8,000-16,000 EUR installed (ground-source 15,000-30,000 EUR); grants "
        "cover 20-50 %; payback is 7-15 years.",
    ),
}
FINAL = (
    "Yes, if it is sized for the coldest days: modern cold-climate heat pumps keep a COP near 2 at "
    "-15 °C and work down to about -25 °C. An air-source unit costs 8,000-16,000 EUR installed "
    "(grants cover 20-50 %) and pays back in 7-15 years."
)


def _step_of(request: FakeRequest) -> str:
    found = re.search(r"Your step \((s\d+)\)", json.dumps(request.body))
    return found.group(1) if found else "s3"


def _tool_results(request: FakeRequest) -> int:
    body = json.dumps(request.body, sort_keys=True)
    markers = ('"role": "tool"', '"type": "tool_result"', '"functionResponse"', '"function_response"')
    return sum(body.count(marker) for marker in markers)


def offline_executor(request: FakeRequest) -> Reply:
    """One step's tool agent: search, read, summarize, then report (parallel steps stay apart)."""
    step = _step_of(request)
    final_format = "Give your final answer now" in json.dumps(request.body)
    if step == "s3":
        output = "Recommend a cold-climate air-source unit sized for the design temperature; see s1 and s2."
    else:
        query, document, output = STEPS[step]
        done = _tool_results(request)
        if not final_format and done == 0:
            return Reply(tool_calls=[ToolCall("search_documents", {"query": query})])
        if not final_format and done == 1:
            return Reply(tool_calls=[ToolCall("read_document", {"name": document})])
    if final_format:
        report = {"thought": f"The documents answer step {step}.", "status": "done", "output": output}
        return Reply(text=json.dumps(report))
    return Reply(text=output)


OFFLINE_SCRIPT: dict[str, Any] = {
    "planner": [
        Reply(
            reasoning="Cold performance and costs are separate questions; research both, then combine.",
            tool_calls=[ToolCall("Plan", PLAN)],
        ),
        Reply(
            reasoning="Both findings are in and the recommendation follows from them.",
            tool_calls=[
                ToolCall(
                    "ReplanDecision",
                    {
                        "thought": "Every step is done.",
                        "action": "finish",
                        "final_answer": FINAL,
                        "steps": [],
                    },
                )
            ],
        ),
    ],
    "executor": {"default": offline_executor},
    "critic": [
        Reply(
            tool_calls=[
                ToolCall(
                    "Verdict",
                    {"thought": "Both figures appear in the findings.", "supported": "yes", "notes": ""},
                )
            ]
        )
    ],
}


if __name__ == "__main__":
    from thinkgraph.cli import main

    sys.argv = ["thinkgraph", "run", __file__, *sys.argv[1:]]
    main()
