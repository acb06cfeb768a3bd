"""``EngineResource``: the lifecycle shared by the checkpointer, the store and the ledger.

Each holds :class:`~thinkgraph.memory.Engines`, closes the engines it created itself (never ones
passed in, which may be shared) and is a sync and async context manager.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import URL, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from thinkgraph.memory._engine import Engines
from thinkgraph.memory._engine_create import engines_for
from thinkgraph.memory._migrate import aupgrade, upgrade

__all__ = ["EngineResource", "MigratedResource"]


class EngineResource:
    """Owns the engines made from a URL or engine; ``close``/``aclose`` and ``with``/``async with``."""

    engines: Engines
    _owned: bool

    def _bind(self, db: str | URL | Engine | AsyncEngine | Engines) -> None:
        self.engines = engines_for(db)
        self._owned = not isinstance(db, Engines)

    def close(self) -> None:
        """Close the engines created here (an in-memory SQLite database is dropped); shared
        :class:`~thinkgraph.memory.Engines` passed in are left open."""
        if self._owned:
            self.engines.dispose()

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        if self._owned:
            await self.engines.adispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class MigratedResource(EngineResource):
    """An :class:`EngineResource` whose tables :meth:`setup` creates or upgrades."""

    def setup(self) -> None:
        """Create or upgrade the tables (idempotent; several processes may call it)."""
        upgrade(self.engines)

    async def asetup(self) -> None:
        """Async twin of :meth:`setup`."""
        await aupgrade(self.engines)
