"""thinkgraph.models."""

__all__: list[str] = []
