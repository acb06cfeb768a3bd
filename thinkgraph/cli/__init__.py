"""The ``thinkgraph`` command. Importing it loads neither litellm nor LangGraph."""

from thinkgraph.cli._app import app, main

__all__ = ["app", "main"]
