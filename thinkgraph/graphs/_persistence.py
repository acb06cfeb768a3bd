"""Where a compiled graph keeps its checkpoints, long-term memory and run ledger."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ENGINE_OPTIONS", "Persistence", "open_persistence"]

ENGINE_OPTIONS: Mapping[str, Any] = {"pool_size": 10, "max_overflow": 10, "pool_timeout": 600}
"""SQLAlchemy pool options of the engines a compiled graph opens for itself."""


@dataclass
class Persistence:
    """The checkpointer, store and ledger of one compiled graph, on one database.

    Attributes:
        checkpointer: a LangGraph ``BaseCheckpointSaver``.
        store: a LangGraph ``BaseStore``.
        ledger: a ``thinkgraph.memory.Ledger`` (or ``None`` to record nothing).
        engines: the database engines this object opened (closed by :meth:`close`), if any.
    """

    checkpointer: Any
    store: Any
    ledger: Any
    engines: Any = None

    def close(self) -> None:
        """Close the database engines opened for this graph (not ones passed in)."""
        if self.engines is not None:
            self.engines.dispose()
            self.engines = None

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        if self.engines is not None:
            await self.engines.adispose()
            self.engines = None


def open_persistence(
    *,
    memory: bool,
    url: str,
    checkpointer: Any = None,
    store: Any = None,
    ledger: Any = None,
    engine_options: Mapping[str, Any] | None = None,
) -> Persistence:
    """Open (and create the tables of) what is not given explicitly.

    Each of ``checkpointer``, ``store`` and ``ledger`` is ``None`` for the default, ``False`` for
    none at all, or an object used as it is (its setup is the caller's). The defaults are, with
    ``memory=True``, LangGraph's in-memory checkpointer and store and a ledger in a private
    in-memory SQLite database; otherwise ``SQLCheckpointer``, ``SQLStore`` and ``Ledger`` sharing
    the engines of ``url``, created with ``engine_options`` (default :data:`ENGINE_OPTIONS`: many
    concurrent runs on a busy event loop hold pooled connections longer than usual, so waiting for
    one may take a while; it should not fail).

    Raises:
        ConfigError: the URL is not a supported database.
        MissingDependencyError: its driver is not installed.
        DatabaseUnavailableError: the database cannot be reached.
    """
    from thinkgraph.memory import Ledger, SQLCheckpointer, SQLStore, create_engines

    engines: Any = None

    def shared() -> Any:
        nonlocal engines
        if engines is None:
            options = dict(ENGINE_OPTIONS if engine_options is None else engine_options)
            engines = create_engines("sqlite://" if memory else url, **options)
        return engines

    if checkpointer is None:
        if memory:
            from langgraph.checkpoint.memory import InMemorySaver

            checkpointer = InMemorySaver()
        else:
            checkpointer = SQLCheckpointer(shared())
            checkpointer.setup()
    if store is None:
        if memory:
            from langgraph.store.memory import InMemoryStore

            store = InMemoryStore()
        else:
            store = SQLStore(shared())
            store.setup()
    if ledger is None:
        ledger = Ledger(shared())
        ledger.setup()
    return Persistence(checkpointer or None, store or None, ledger or None, engines)
