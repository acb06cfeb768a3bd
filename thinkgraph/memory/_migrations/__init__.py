"""Alembic scripts of ``thinkgraph.memory`` (applied by :func:`thinkgraph.memory.upgrade`)."""
