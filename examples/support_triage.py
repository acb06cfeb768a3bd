"""Support ticket triage: an intent router, specialist agents, and a refund that needs a human.

What it shows: ``triage`` (a cheap, fast model) reads the ticket and answers a structured
:class:`Triage`; the graph routes it to a specialist agent, each on its own provider:
``refunds`` (Claude) can look orders up and issue refunds, ``billing`` (DeepSeek) explains charges,
``technical`` (Gemini) answers product questions from a small manual. The ``refund`` tool requires
human approval: the run pauses before the refund is made, and is resumed after a decision
(approve, reject with a reason, or edit the amount), even from another process.

Tickets are text, or the id of a ticket in ``examples/data/tickets.json`` (T-1001 asks for a
refund, T-1002 is a technical question, T-1003 a billing question); orders come from
``examples/data/orders.json``.

Run it offline (no API key needed) and answer the approval at the terminal::

    thinkgraph run examples/support_triage.py --offline T-1001

Or pause, and resume later (``--no-input`` exits with status 3 and prints the command)::

    thinkgraph run examples/support_triage.py --offline --no-input T-1001
    thinkgraph resume THREAD --approve            # or --reject "needs a photo of the damage"

Run it live (OPENAI_API_KEY, ANTHROPIC_API_KEY, DEEPSEEK_API_KEY, GEMINI_API_KEY)::

    thinkgraph run examples/support_triage.py "My jacket arrived torn, order A-2207. I want a refund."

The same graph, declared in YAML: ``examples/support_triage.yaml``.
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

from thinkgraph.agents import build_tool_agent
from thinkgraph.graphs import END, START, Graph
from thinkgraph.testing import FakeRequest, Reply, ToolCall
from thinkgraph.tools import tool

DATA = Path(__file__).parent / "data"
TRIAGE_MODEL = "openai/gpt-4o-mini"

MANUAL = {
    "headlamp": "Headlamp 400 lm: hold the button 3 s to switch the start mode between low and high; "
    "the lamp remembers the last mode you chose.",
    "poles": "Trekking poles: twist the lower section anticlockwise to loosen, set the length, twist back.",
    "bottle": "Insulated bottle: hand wash only; keeps drinks hot for 12 h.",
}


class Triage(BaseModel):
    """What the ticket is about."""

    thought: str = Field(default="", description="your reasoning")
    intent: Literal["refund", "billing", "technical"] = Field(description="what the customer needs")
    urgency: Literal["low", "normal", "high"] = Field(default="normal", description="how urgent it is")
    order_id: str | None = Field(default=None, description="the order id mentioned, if any (A-1234)")


class State(TypedDict, total=False):
    """The conversation and the triage result."""

    messages: Annotated[list[AnyMessage], add_messages]
    ticket: str
    triage: dict[str, Any]


def _orders() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "orders.json").read_text(encoding="utf-8"))
    return data


@tool
def lookup_order(order_id: str) -> str:
    """Look an order up: customer, items, total, status and charges.

    Args:
        order_id: the order id, e.g. A-2207.
    """
    order = _orders().get(order_id.strip().upper())
    if order is None:
        return f"no order {order_id!r}"
    return json.dumps({"order_id": order_id, **order})


@tool(requires_approval=True)
def refund(order_id: str, amount_eur: float, reason: str) -> str:
    """Refund (part of) an order. A human approves every refund before it is made.

    Args:
        order_id: the order to refund.
        amount_eur: the amount in EUR, at most the order total.
        reason: why, in a few words.
    """
    order = _orders().get(order_id.strip().upper())
    if order is None:
        return f"no order {order_id!r}: nothing refunded"
    if amount_eur <= 0 or amount_eur > float(order["total_eur"]):
        return f"refused: {amount_eur} EUR is not between 0 and the order total {order['total_eur']} EUR"
    return f"refunded {amount_eur:.2f} EUR on {order_id} ({reason})"


@tool
def search_manual(query: str) -> str:
    """Search the product manual.

    Args:
        query: words to look for.
    """
    words = {w for w in re.findall(r"[a-z0-9]+", query.lower()) if len(w) > 2}
    hits = [text for key, text in MANUAL.items() if key in words or words & set(text.lower().split())]
    return "\n".join(hits) or "nothing in the manual matches"


def ticket_text(value: str) -> str:
    """The ticket's text: ``value`` itself, or the text of the ticket with that id."""
    tickets = json.loads((DATA / "tickets.json").read_text(encoding="utf-8"))
    for ticket in tickets:
        if ticket["id"].lower() == value.strip().lower():
            return f"{ticket['text']} (customer {ticket['customer']}, order {ticket['order_id']})"
    return value


async def triage(state: State, model: Any) -> dict[str, Any]:
    """Read the ticket and decide which specialist takes it."""
    raw = next(
        (str(m.content) for m in reversed(state.get("messages") or []) if isinstance(m, HumanMessage)), ""
    )
    ticket = ticket_text(raw)
    verdict = await model.with_structured_output(Triage).ainvoke(
        [SystemMessage("Classify the support ticket."), HumanMessage(ticket)]
    )
    return {"ticket": ticket, "triage": verdict.model_dump(), "messages": [HumanMessage(ticket)]}


def route_ticket(state: State) -> str:
    """The specialist for the ticket's intent."""
    intent = (state.get("triage") or {}).get("intent")
    return {"refund": "refunds", "billing": "billing"}.get(str(intent), "technical")


def _agent(model: Any, **options: Any) -> Any:
    return build_tool_agent(model, **options).compile()


def build_graph() -> Graph:
    """triage → refunds | billing | technical, each a tool agent on its own provider."""
    graph = Graph(State, name="support_triage")
    graph.add_node("triage", triage, model=TRIAGE_MODEL)
    graph.add_agent(
        "refunds",
        _agent,
        model="anthropic/claude-haiku-4-5",
        fallbacks=["openai/gpt-4o-mini"],
        tools=[lookup_order, refund],
        system_prompt="You handle refund requests. Check the order, then refund what is fair.",
    )
    graph.add_agent(
        "billing",
        _agent,
        model="deepseek/deepseek-chat",
        tools=[lookup_order],
        system_prompt="You explain charges. Check the order and its charges before answering.",
    )
    graph.add_agent(
        "technical",
        _agent,
        model="gemini/gemini-2.5-flash",
        tools=[search_manual],
        system_prompt="You answer product questions from the manual.",
    )
    graph.add_edge(START, "triage")
    graph.add_conditional_edges("triage", route_ticket, ["refunds", "billing", "technical"])
    for node in ("refunds", "billing", "technical"):
        graph.add_edge(node, END)
    return graph


# --- offline script: answers that follow the ticket, whatever order the requests come in -------


def _body(request: FakeRequest) -> str:
    return json.dumps(request.body, sort_keys=True)


def _tool_results(request: FakeRequest) -> int:
    body = _body(request)
    markers = ('"role": "tool"', '"type": "tool_result"', '"functionResponse"', '"function_response"')
    return sum(body.count(marker) for marker in markers)


def _order_id(request: FakeRequest) -> str:
    found = re.findall(r"A-\d{4}", _body(request))
    return found[0] if found else "A-0000"


def _user_text(request: FakeRequest) -> str:
    return json.dumps([m for m in request.messages if isinstance(m, dict) and m.get("role") == "user"])


def offline_triage(request: FakeRequest) -> Reply:
    """Classify like a model would, from the ticket's words."""
    text = _user_text(request).lower()
    if "charged twice" in text or "invoice" in text:
        intent = "billing"
    elif "refund" in text or "money back" in text:
        intent = "refund"
    else:
        intent = "technical"
    verdict = {"thought": f"The customer's request is about {intent}.", "intent": intent, "urgency": "normal"}
    return Reply(text=json.dumps({**verdict, "order_id": _order_id(request)}))


def offline_refunds(request: FakeRequest) -> Reply:
    """Look the order up, ask to refund its total, then report what happened."""
    order_id = _order_id(request)
    step = _tool_results(request)
    if step == 0:
        return Reply(tool_calls=[ToolCall("lookup_order", {"order_id": order_id})])
    if step == 1:
        total = float(_orders().get(order_id, {}).get("total_eur", 0.0))
        args = {"order_id": order_id, "amount_eur": total, "reason": "item arrived damaged"}
        return Reply(text="The order is delivered; I will refund it.", tool_calls=[ToolCall("refund", args)])
    if "rejected" in _body(request):
        return Reply(
            text=f"I could not refund order {order_id}: a colleague declined it. We will be in touch."
        )
    return Reply(text=f"Your refund for order {order_id} has been issued; expect it within 5 days.")


def offline_billing(request: FakeRequest) -> Reply:
    """Check the charges, then explain them."""
    if _tool_results(request) == 0:
        return Reply(tool_calls=[ToolCall("lookup_order", {"order_id": _order_id(request)})])
    return Reply(text="Order A-2251 was charged twice (2 x 269.00 EUR); the duplicate is being reversed.")


def offline_technical(request: FakeRequest) -> Reply:
    """Search the manual, then answer."""
    if _tool_results(request) == 0:
        return Reply(tool_calls=[ToolCall("search_manual", {"query": "headlamp start mode"})])
    return Reply(text="Hold the button for 3 seconds to switch the start mode; the lamp remembers it.")


OFFLINE_SCRIPT: dict[str, Any] = {
    "triage": {"default": offline_triage},
    "refunds": {"default": offline_refunds},
    "billing": {"default": offline_billing},
    "technical": {"default": offline_technical},
}


if __name__ == "__main__":
    from thinkgraph.cli import main

    sys.argv = ["thinkgraph", "run", __file__, *sys.argv[1:]]
    main()
