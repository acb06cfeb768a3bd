"""Offline doubles for tests: yours and ours.

* :class:`ScriptedModel`: a langchain chat model replaying a script (text, tool calls, reasoning,
  structured output, exceptions), or a function of the conversation.
* :class:`TestModel`: a chat model that calls every bound tool with schema-generated arguments,
  then summarizes the results; structured output generated from the schema.
* :class:`FakeProvider`: a real HTTP server on loopback speaking the OpenAI (and Azure, DeepSeek,
  xAI, Mistral, Groq, Together, vLLM), Anthropic, Gemini and Ollama wire protocols, scripted per
  deployment with :class:`Reply` and :class:`Fault` items; it records every :class:`FakeRequest`.
* ``no_model_requests()`` fails any attempt to reach a non-loopback address.

Messages from both chat models carry thinkgraph's metadata contract
(:mod:`thinkgraph.models._metadata`). The pytest fixture ``fake_provider`` lives in
:mod:`thinkgraph.testing.pytest_plugin`; enable it with
``pytest_plugins = ["thinkgraph.testing.pytest_plugin"]`` in your root ``conftest.py``.
"""

from thinkgraph.testing._fake_items import FakeRequest, Fault, FaultKind, Reply, ScriptItem, ToolCall
from thinkgraph.testing._fake_server import FakeProvider
from thinkgraph.testing._guard import is_loopback_host, no_model_requests
from thinkgraph.testing._schema_values import value_for_schema
from thinkgraph.testing._scripted import ScriptedCall, ScriptedModel
from thinkgraph.testing._test_model import TestModel

__all__ = [
    "FakeProvider",
    "FakeRequest",
    "Fault",
    "FaultKind",
    "Reply",
    "ScriptItem",
    "ScriptedCall",
    "ScriptedModel",
    "TestModel",
    "ToolCall",
    "is_loopback_host",
    "no_model_requests",
    "value_for_schema",
]
