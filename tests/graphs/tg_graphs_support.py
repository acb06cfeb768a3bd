"""Shared pieces of the graphs tests: the four-node, three-provider graph (Python and YAML), fake
chat models, and a command line used to run the graph in a subprocess (crash and resume tests).

Usage as a script (the crash test runs it)::

    python tg_graphs_support.py run|resume THREAD_ID FAKE_URL

It compiles the graph against the settings database (``THINKGRAPH_DATABASE_URL``).
"""

from __future__ import annotations

import asyncio
import json
import operator
import os
import sys
from collections.abc import Iterator
from typing import Annotated, Any, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from thinkgraph.models._metadata import CALL_KEY, REASONING_KEY, CallInfo
from thinkgraph.tools import tool

FAKE_KEY_ENV = "TG_GRAPHS_FAKE_KEY"
PRICE = {"input": 1e-6, "output": 2e-6}


class Log(TypedDict):
    """A state that only appends to a log (the runner tests' graphs)."""

    log: Annotated[list[str], operator.add]


@tool
def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: the first number.
        b: the second number.
    """
    return a + b


class State(TypedDict):
    """The e2e graph's state."""

    topic: str
    log: Annotated[list[str], operator.add]


async def plan(state: State, model: Any) -> dict[str, Any]:
    """Ask the model for a plan."""
    reply = await model.ainvoke([HumanMessage(f"plan {state['topic']}")])
    return {"log": [f"plan={reply.content}"]}


async def research(state: State, model: Any) -> dict[str, Any]:
    """Ask the model for facts."""
    reply = await model.ainvoke([HumanMessage(f"research {state['topic']}")])
    return {"log": [f"research={reply.content}"]}


async def review(state: State, model: Any) -> dict[str, Any]:
    """Ask the model to review."""
    reply = await model.ainvoke([HumanMessage(f"review {len(state['log'])}")])
    return {"log": [f"review={reply.content}"]}


async def write(state: State, model: Any) -> dict[str, Any]:
    """Ask the model to write the result."""
    reply = await model.ainvoke([HumanMessage(f"write {state['topic']}")])
    return {"log": [f"write={reply.content}"]}


def after_review(state: State) -> str:
    """Route: write when the review happened."""
    return "write" if any(entry.startswith("review=") for entry in state["log"]) else "end"


def spec(url: str, model: str, deployment: str) -> dict[str, Any]:
    """A priced spec mapping pointing ``model`` at ``deployment`` of the fake provider at ``url``."""
    provider = model.split("/", 1)[0]
    root = f"{url}/d/{deployment}"
    base = (
        root + "/v1beta"
        if provider == "gemini"
        else root
        if provider in ("anthropic", "ollama_chat")
        else root + "/v1"
    )
    return {
        "model": model,
        "api_base": base,
        "api_key_env": FAKE_KEY_ENV,
        "max_retries": 0,
        "timeout": 60,
        "pricing": PRICE,
    }


def build(url: str) -> Any:
    """plan (OpenAI, falls back to Anthropic) → research (Anthropic) → review (Gemini) → write (Ollama)."""
    from thinkgraph.graphs import END, START, Graph

    graph = Graph(State, name="e2e", model=spec(url, "openai/gpt-4o-mini", "write"))
    graph.add_node(
        "plan",
        plan,
        model=spec(url, "openai/gpt-4o-mini", "plan"),
        fallbacks=[spec(url, "anthropic/claude-3-5-haiku-20241022", "plan-fallback")],
    )
    graph.add_node("research", research, model=spec(url, "anthropic/claude-3-5-haiku-20241022", "research"))
    graph.add_node("review", review, model=spec(url, "gemini/gemini-2.0-flash", "review"))
    graph.add_node("write", write, model=spec(url, "ollama_chat/llama3.1", "write"))
    graph.add_edge(START, "plan")
    graph.add_edge("plan", "research")
    graph.add_edge("research", "review")
    graph.add_conditional_edges("review", after_review, {"write": "write", "end": END})
    graph.add_edge("write", END)
    return graph


def yaml_text(url: str) -> str:
    """The same graph in the YAML format."""
    import json

    def s(model: str, deployment: str) -> str:
        return json.dumps(spec(url, model, deployment))

    return f"""
name: e2e
state:
  topic: str
  log: {{type: "list[str]", reducer: append}}
model: {s("openai/gpt-4o-mini", "write")}
nodes:
  plan:
    kind: function
    function: tg_graphs_support:plan
    model: {s("openai/gpt-4o-mini", "plan")}
    fallbacks: [{s("anthropic/claude-3-5-haiku-20241022", "plan-fallback")}]
  research:
    function: tg_graphs_support:research
    model: {s("anthropic/claude-3-5-haiku-20241022", "research")}
  review:
    function: tg_graphs_support:review
    model: {s("gemini/gemini-2.0-flash", "review")}
  write:
    function: tg_graphs_support:write
    model: {s("ollama_chat/llama3.1", "write")}
edges:
  - [START, plan]
  - {{from: plan, to: research}}
  - [research, review]
  - [write, END]
routes:
  - {{from: review, router: "tg_graphs_support:after_review", map: {{write: write, end: END}}}}
"""


def scripted(*texts: str) -> GenericFakeChatModel:
    """A langchain fake chat model answering ``texts`` in order (then ``"done"`` forever)."""

    def replies() -> Iterator[AIMessage]:
        yield from (AIMessage(content=t) for t in texts)
        while True:
            yield AIMessage(content="done")

    return GenericFakeChatModel(messages=replies())


def main(argv: list[str]) -> int:
    """Run or resume the e2e graph on the settings database; print the final log."""
    command, thread_id, url = argv
    os.environ.setdefault(FAKE_KEY_ENV, "sk-test-not-a-secret")
    app = build(url).compile()

    async def go() -> Any:
        if command == "run":
            return await app.arun({"topic": "tides", "log": []}, thread_id=thread_id)
        return await app.aresume(thread_id)

    result = asyncio.run(go())
    print("RESULT", result.status, result.run_id, "|".join(result.output["log"]), flush=True)
    app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


class PricedFake(BaseChatModel):
    """A scripted chat model that records a thinkgraph ``CallInfo`` (priced) on every answer.

    Replies are taken in order (then ``"done"``); text answers stream word by word.
    """

    replies: list[Any] = Field(default_factory=list)
    cost: float = 0.01
    name_: str = "fake/priced"
    reasoning: str | None = None
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "priced-fake"

    def _next(self) -> AIMessage:
        index = self.calls
        self.calls += 1
        item = self.replies[index] if index < len(self.replies) else "done"
        message = item if isinstance(item, AIMessage) else AIMessage(content=str(item))
        info: CallInfo = {
            "requested_model": self.name_,
            "model": self.name_,
            "provider": self.name_.split("/")[0],
            "attempts": [],
            "fallback": False,
            "latency_s": 0.001,
            "input_tokens": 3,
            "output_tokens": 2,
            "cached_tokens": 0,
            "reasoning_tokens": 0,
            "cost_usd": self.cost,
            "unpriced": False,
        }
        extra: dict[str, Any] = {}
        if self.reasoning:
            extra[REASONING_KEY] = {
                "text": self.reasoning,
                "blocks": [],
                "provider": "fake",
                "model": self.name_,
                "tokens": None,
            }
        return message.model_copy(
            update={
                "id": f"{self.name_}-{index}",
                "response_metadata": {**message.response_metadata, CALL_KEY: info},
                "additional_kwargs": {**message.additional_kwargs, **extra},
            }
        )

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next())])

    def _stream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Iterator[ChatGenerationChunk]:
        message = self._next()
        words = str(message.content).split(" ")
        for i, word in enumerate(words):
            last = i == len(words) - 1
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content=word + ("" if last else " "),
                    id=message.id,
                    response_metadata=message.response_metadata if last else {},
                    additional_kwargs=message.additional_kwargs if last else {},
                    tool_call_chunks=[
                        {
                            "name": c["name"],
                            "args": json.dumps(c["args"]),
                            "id": c["id"],
                            "index": j,
                            "type": "tool_call_chunk",
                        }
                        for j, c in enumerate(message.tool_calls)
                    ]
                    if last
                    else [],
                )
            )

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self.bind(tools=[getattr(t, "name", str(t)) for t in tools])
