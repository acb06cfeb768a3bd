"""A data analyst agent over a small SQLite shop database, with a critic that checks the numbers.

What it shows: a ReAct agent (``analyst``, on DeepSeek's reasoning model) answers questions with
the read-only SQL tool; its reasoning is captured on every answer and kept in the checkpoints
(``thinkgraph history THREAD`` shows it). A critic on another vendor (``critic``, Claude) runs its
own query to verify the figures and returns a structured verdict.

The database is built on first run from ``examples/data/shop.sql`` (customers, products, orders,
order items) into a file in the temporary directory; edit the SQL and it is rebuilt.

Run it offline (no API key needed)::

    thinkgraph run examples/data_analyst.py --offline "Which country brought in the most revenue?"
    thinkgraph history THREAD          # the analyst's reasoning and the critic's check, step by step

Run it live (DEEPSEEK_API_KEY and ANTHROPIC_API_KEY)::

    thinkgraph run examples/data_analyst.py "Which product category sells best, by revenue?"
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph.message import add_messages
from pydantic import BaseModel, Field

from thinkgraph.agents import build_tool_agent
from thinkgraph.graphs import END, START, Graph
from thinkgraph.testing import Reply, ToolCall
from thinkgraph.tools import sql_query_tool

SQL_FILE = Path(__file__).parent / "data" / "shop.sql"

ANALYST_PROMPT = (
    "You are a data analyst. Answer the question from the shop database with the sql_query tool. "
    "Tables: customers(id, name, country, joined), products(id, name, category, price), "
    "orders(id, customer_id, ordered_at), order_items(order_id, product_id, quantity, unit_price). "
    "Revenue is SUM(quantity * unit_price). Give the figures you found and how you computed them."
)
CRITIC_PROMPT = (
    "You verify an analyst's answer. Run your own SQL query with the sql_query tool to recompute "
    "the figures the answer states, then say whether they are correct."
)


class Verification(BaseModel):
    """The critic's verdict on the analyst's numbers."""

    thought: str = Field(description="how you checked the figures")
    verdict: Literal["correct", "incorrect"] = Field(description="whether every figure matches")
    details: str = Field(description="the figures you recomputed")


class State(TypedDict, total=False):
    """The conversation, the analyst's answer and the critic's verification."""

    messages: Annotated[list[AnyMessage], add_messages]
    question: str
    answer: str
    verification: dict[str, Any]


def database_path() -> Path:
    """Build the shop database from ``shop.sql`` (once per version of the script) and return its path."""
    script = SQL_FILE.read_text(encoding="utf-8")
    digest = hashlib.sha256(script.encode()).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / "thinkgraph-examples" / f"shop-{digest}.db"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{digest}.partial")
        partial.unlink(missing_ok=True)
        with sqlite3.connect(partial) as connection:
            connection.executescript(script)
        connection.close()
        partial.replace(path)
    return path


async def ask(state: State) -> dict[str, Any]:
    """Put the question into the conversation (the analyst reads messages)."""
    question = state.get("question") or next(
        (str(m.content) for m in reversed(state.get("messages") or []) if isinstance(m, HumanMessage)), ""
    )
    return {"question": question}


async def critic(state: State, model: Any, *, checker: Any) -> dict[str, Any]:
    """Verify the analyst's last answer with an independent query."""
    answer = next(
        (
            str(m.content)
            for m in reversed(state.get("messages") or [])
            if isinstance(m, AIMessage) and m.content
        ),
        "",
    )
    out = await checker.ainvoke(
        {"messages": [HumanMessage(f"Question: {state.get('question')}\n\nAnalyst's answer: {answer}")]}
    )
    verdict = out.get("structured_response")  # the Verification, as plain data
    data = Verification.model_validate(verdict).model_dump() if verdict else {"verdict": "unknown"}
    note = f"Critic: {data.get('verdict')} — {data.get('details', '')}".strip()
    return {"answer": f"{answer}\n\n{note}", "verification": data}


def build_graph() -> Graph:
    """ask → analyst (ReAct + SQL, DeepSeek reasoner) → critic (ReAct + SQL + verdict, Claude)."""
    sql = sql_query_tool(f"sqlite:///{database_path()}", max_rows=50)
    graph = Graph(State, name="data_analyst")
    graph.add_node("ask", ask)
    graph.add_agent(
        "analyst",
        lambda model, **kw: build_tool_agent(model, **kw).compile(),
        model="deepseek/deepseek-reasoner",
        fallbacks=["openai/gpt-4.1-mini"],
        tools=[sql],
        system_prompt=ANALYST_PROMPT,
        max_steps=6,
    )
    checker = build_tool_agent(
        graph.model_for("critic"),
        [sql],
        system_prompt=CRITIC_PROMPT,
        response_format=Verification,
        max_steps=4,
    ).compile()

    async def critic_node(state: State, model: Any) -> dict[str, Any]:
        return await critic(state, model, checker=checker)

    graph.add_node("critic", critic_node, model="anthropic/claude-sonnet-4-5")
    graph.add_edge(START, "ask")
    graph.add_edge("ask", "analyst")
    graph.add_edge("analyst", "critic")
    graph.add_edge("critic", END)
    return graph


_REVENUE_BY_COUNTRY = (
    "SELECT c.country, SUM(oi.quantity * oi.unit_price) AS revenue FROM order_items oi "
    "JOIN orders o ON o.id = oi.order_id JOIN customers c ON c.id = o.customer_id "
    "GROUP BY c.country ORDER BY revenue DESC"
)
_GERMANY_CHECK = (
    "SELECT SUM(oi.quantity * oi.unit_price) AS revenue, COUNT(DISTINCT o.id) AS orders FROM order_items oi "
    "JOIN orders o ON o.id = oi.order_id JOIN customers c ON c.id = o.customer_id WHERE c.country = 'Germany'"
)

OFFLINE_SCRIPT: dict[str, Any] = {
    "analyst": [
        Reply(
            reasoning=(
                "Revenue per country needs order_items joined to orders and customers, summed as "
                "quantity times unit price and grouped by country."
            ),
            tool_calls=[ToolCall("sql_query", {"query": _REVENUE_BY_COUNTRY})],
        ),
        Reply(
            reasoning="Germany is first with 737, well ahead of Finland with 346.",
            text=(
                "Germany brought in the most revenue: 737.00 EUR over 4 orders, ahead of Finland "
                "(346.00 EUR) and Spain (269.00 EUR). Computed as SUM(quantity * unit_price) over "
                "all order items, grouped by the customer's country."
            ),
        ),
    ],
    "critic": [
        Reply(tool_calls=[ToolCall("sql_query", {"query": _GERMANY_CHECK})]),
        Reply(text="Germany: 737 EUR over 4 orders, as stated."),
        Reply(
            tool_calls=[
                ToolCall(
                    "Verification",
                    {
                        "thought": "I recomputed Germany's revenue and order count independently.",
                        "verdict": "correct",
                        "details": "Germany: 737.00 EUR from 4 orders.",
                    },
                )
            ]
        ),
    ],
}


if __name__ == "__main__":
    from thinkgraph.cli import main

    sys.argv = ["thinkgraph", "run", __file__, *sys.argv[1:]]
    main()
