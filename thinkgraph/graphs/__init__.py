"""thinkgraph.graphs."""

__all__: list[str] = []
