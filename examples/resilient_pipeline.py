"""A three-step pipeline that keeps going while its primary provider fails.

What it shows: every node shares one model chain (``openai/gpt-4o-mini``, then
``anthropic/claude-haiku-4-5``, then ``mistral/mistral-small-latest``). Offline, the primary is
first rate-limited (the call is retried and succeeds), then has an outage: the ``summarize`` call
fails over to Claude after its retries, the circuit breaker of the primary opens, and
``translate`` skips the primary without calling it. The ledger records each call: which model
answered, after how many attempts, whether a fallback answered, and the cost.

Run it offline (no API key needed; a local fake provider answers through litellm's real HTTP path)::

    thinkgraph run examples/resilient_pipeline.py --offline \
        "Heat pumps move heat instead of making it; a COP of 3 means 3 kWh of heat per kWh."
    thinkgraph costs --by provider        # what each provider answered and cost
    thinkgraph history THREAD             # each checkpoint, the model calls and their cost

Run it live (set OPENAI_API_KEY, ANTHROPIC_API_KEY and MISTRAL_API_KEY; only the models that are
called need their key at call time, but ``thinkgraph run`` checks all of them first)::

    thinkgraph run examples/resilient_pipeline.py "Some text to process"

``python examples/resilient_pipeline.py --offline "text"`` does the same as ``thinkgraph run``.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage, HumanMessage, SystemMessage
from langgraph.graph.message import add_messages

from thinkgraph.graphs import END, START, Graph
from thinkgraph.testing import Fault, Reply

PRIMARY = "openai/gpt-4o-mini"
FALLBACKS = ["anthropic/claude-haiku-4-5", "mistral/mistral-small-latest"]


class State(TypedDict, total=False):
    """The pipeline's state: the conversation and each step's output."""

    messages: Annotated[list[AnyMessage], add_messages]
    facts: str
    summary: str
    answer: str


def _text(state: State) -> str:
    for message in reversed(state.get("messages") or []):
        if isinstance(message, HumanMessage):
            return str(message.content)
    return ""


async def extract(state: State, model: Any) -> dict[str, Any]:
    """List the facts of the input text."""
    reply = await model.ainvoke(
        [SystemMessage("List the facts stated in the text, one per line."), HumanMessage(_text(state))]
    )
    return {"facts": reply.text, "messages": [reply]}


async def summarize(state: State, model: Any) -> dict[str, Any]:
    """Summarize the facts in one sentence."""
    reply = await model.ainvoke(
        [SystemMessage("Summarize these facts in one sentence."), HumanMessage(state.get("facts") or "")]
    )
    return {"summary": reply.text, "messages": [reply]}


async def translate(state: State, model: Any) -> dict[str, Any]:
    """Translate the summary into German."""
    reply = await model.ainvoke(
        [SystemMessage("Translate into German."), HumanMessage(state.get("summary") or "")]
    )
    return {"answer": reply.text, "messages": [reply]}


def build_graph() -> Graph:
    """extract → summarize → translate, all on one fallback chain (one circuit breaker)."""
    graph = Graph(State, name="resilient_pipeline", model=PRIMARY, fallbacks=FALLBACKS, model_timeout=30)
    graph.add_sequence([("extract", extract), ("summarize", summarize), ("translate", translate)])
    graph.add_edge(START, "extract")
    graph.add_edge("translate", END)
    return graph


OFFLINE_SCRIPT: dict[str, Any] = {
    # One deployment for the primary model, shared by every node (as the real endpoint would be).
    PRIMARY: [
        Fault.rate_limit(retry_after=0.1),  # extract: rate-limited once, retried
        Reply(text="- A heat pump moves heat.\n- A COP of 3 gives 3 kWh of heat per kWh of power."),
        Fault.unavailable(),  # summarize: an outage; three tries, then the chain falls over
        Fault.unavailable(),
        Fault.unavailable(),
        # translate: not called, the circuit breaker of the primary is open
    ],
    FALLBACKS[0]: [
        Reply(text="A heat pump moves heat, delivering about three units of heat per unit of power."),
        Reply(text="Eine Wärmepumpe bewegt Wärme und liefert etwa drei Einheiten Wärme pro Einheit Strom."),
    ],
}


if __name__ == "__main__":
    from thinkgraph.cli import main

    sys.argv = ["thinkgraph", "run", __file__, *sys.argv[1:]]
    main()
