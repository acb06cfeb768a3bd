"""thinkgraph.agents."""

__all__: list[str] = []
