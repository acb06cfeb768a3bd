"""``SQLStore``: LangGraph's ``BaseStore`` on SQLite, PostgreSQL and MySQL/MariaDB, sync and async."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import math
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

import sqlalchemy.exc
from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    InvalidNamespaceError,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchOp,
    TTLConfig,
    ensure_embeddings,
    get_text_at_path,
    tokenize_path,
    validate_op_namespace,
)
from sqlalchemy import URL, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from thinkgraph.exceptions import ConfigError, PersistenceError
from thinkgraph.memory._engine import Engines
from thinkgraph.memory._resource import MigratedResource
from thinkgraph.memory._store_filter import compile_filter
from thinkgraph.memory._store_schema import ID_BYTES, store_items
from thinkgraph.memory._store_sql import Key, Plan, Upsert, adrive, drive, read_ops, sweep_op, write_ops
from thinkgraph.memory._ttl_sweeper import TTLSweeper

__all__ = ["SQLStore"]

Clock = Callable[[], datetime]
_Texts = list[tuple[int, str, str]]  # (put number, field name, text)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _persistence_error(engines: Engines, exc: sqlalchemy.exc.SQLAlchemyError) -> PersistenceError:
    orig = getattr(exc, "orig", None) or exc
    return PersistenceError(
        f"the store on {engines.url!r} failed: {type(orig).__name__}: {orig}; "
        "if its tables are missing, call store.setup() (or run `thinkgraph db upgrade`)"
    )


class SQLStore(MigratedResource, BaseStore):
    """LangGraph's long-term memory store on a SQL database (SQLite, PostgreSQL, MySQL/MariaDB).

    Namespaces are stored as their labels joined by ``"."``, so searching under a prefix is a
    range over an index. Filters become SQL (JSON functions of each dialect) where they can be
    expressed exactly and are checked in Python otherwise; ids compare byte for byte everywhere.
    Items may expire (``ttl`` in minutes, refreshed on reads unless told otherwise); expired items
    are invisible at once and deleted by :meth:`sweep_ttl`, or in the background once
    :meth:`start_ttl_sweeper` is called. With ``index``, the configured fields
    of each item are embedded on write and ``search(query=...)`` ranks by cosine similarity.

    Within a batch, reads see the state before the batch's writes and the last put of a key wins
    (as in LangGraph's stores). ``search`` returns the most recently updated items first (then by
    namespace and key); with a query, the best score first and items without vectors last.
    Filters keep JSON types apart (``True`` never equals ``1``) and compare with ``$gt``... only
    numbers with numbers and strings with strings. ``created_at`` survives updates.

    Args:
        db: a database URL (``sqlite:///f.db``, ``postgresql://user@host/db``, ...), an engine, or
            :class:`~thinkgraph.memory.Engines`. Engines created here are closed by :meth:`close`.
        index: semantic search, as LangGraph's ``IndexConfig``: ``dims``, ``embed`` (a LangChain
            ``Embeddings`` or a sync/async function of a list of texts) and ``fields``
            (JSON paths, default ``["$"]``: the whole value).
        ttl: LangGraph's ``TTLConfig``: ``default_ttl`` (minutes), ``refresh_on_read`` and
            ``sweep_interval_minutes`` (for :meth:`start_ttl_sweeper`).
        clock: returns the current time (timezone-aware); tests inject one to expire items.

    Example:
        >>> store = SQLStore("sqlite://")
        >>> store.setup()
        >>> store.put(("users", "ada"), "prefs", {"theme": "dark"})
        >>> store.get(("users", "ada"), "prefs").value
        {'theme': 'dark'}
        >>> store.close()
    """

    supports_ttl = True

    def __init__(
        self,
        db: str | URL | Engine | AsyncEngine | Engines,
        *,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._bind(db)
        self.ttl_config = ttl
        self._clock = clock or _utcnow
        self._sweeper = TTLSweeper(self.sweep_ttl)
        self.index_config: IndexConfig | None = None
        self.embeddings: Embeddings | None = None
        self._fields: list[tuple[str, str | list[str]]] = []
        if index:
            if "dims" not in index or not isinstance(index["dims"], int) or index["dims"] <= 0:
                raise ConfigError(f"index needs 'dims', a positive number of dimensions; got {index!r}")
            if index.get("embed") is None:
                raise ConfigError("index needs 'embed': a LangChain Embeddings or a function of texts")
            self.index_config = index
            self.embeddings = ensure_embeddings(index["embed"])
            self._fields = self._tokenized(index.get("fields") or ["$"])

    @staticmethod
    def _tokenized(paths: Sequence[str]) -> list[tuple[str, str | list[str]]]:
        return [(path, path if path == "$" else tokenize_path(path)) for path in paths]

    # --- preparing a batch ----------------------------------------------------------------

    def _prepare(self, ops: Iterable[Op]) -> tuple[int, Plan, dict[Key, PutOp]]:
        plan = Plan()
        puts: dict[Key, PutOp] = {}
        count = 0
        for index, op in enumerate(ops):
            count += 1
            if not isinstance(op, GetOp | SearchOp | ListNamespacesOp | PutOp):
                raise ConfigError(
                    f"unknown store operation {op!r}: use GetOp, SearchOp, PutOp or ListNamespacesOp"
                )
            validate_op_namespace(op)
            if isinstance(op, GetOp):
                plan.gets.append((index, op))
            elif isinstance(op, SearchOp):
                if op.limit < 0 or op.offset < 0:
                    raise ConfigError(
                        f"search limit and offset must be >= 0, got {op.limit!r}, {op.offset!r}"
                    )
                compiled = compile_filter(op.filter, store_items.c.value, self.engines.dialect)
                plan.searches.append((index, op, compiled))
            elif isinstance(op, ListNamespacesOp):
                plan.listings.append((index, op))
            else:
                puts[self._put_key(op)] = op
        return count, plan, puts

    @staticmethod
    def _put_key(op: PutOp) -> Key:
        if not op.namespace:
            raise InvalidNamespaceError("Namespace cannot be empty.")
        prefix = ".".join(op.namespace)
        for what, text in (("namespace", prefix), ("key", op.key)):
            if len(text.encode("utf-8")) > ID_BYTES:
                raise ConfigError(
                    f"{what} {text[:80]!r}... is longer than {ID_BYTES} bytes in UTF-8; use a shorter one"
                )
        if op.value is not None:
            if op.ttl is not None and not (isinstance(op.ttl, int | float) and op.ttl > 0):
                raise ConfigError(f"ttl must be a positive number of minutes or None, got {op.ttl!r}")
            try:
                json.dumps(op.value, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise ConfigError(
                    f"the value of {op.key!r} in {op.namespace!r} is not JSON ({exc}); store only "
                    "dicts, lists, strings, finite numbers, booleans and None"
                ) from None
        return (prefix, op.key)

    def _texts(self, puts: dict[Key, PutOp]) -> tuple[list[Key], _Texts]:
        """The texts to embed for each upsert (none without an index or with ``index=False``)."""
        keys = list(puts)
        texts: _Texts = []
        if self.embeddings is None:
            return keys, texts
        for number, key in enumerate(keys):
            op = puts[key]
            if op.value is None or op.index is False:
                continue
            fields = self._fields if op.index is None else self._tokenized(op.index)
            for path, tokens in fields:
                found = get_text_at_path(op.value, tokens)
                if len(found) == 1:
                    texts.append((number, path, found[0]))
                else:
                    texts.extend((number, f"{path}.{i}", text) for i, text in enumerate(found))
        return keys, texts

    def _check_dims(self, vectors: Sequence[Sequence[float]]) -> list[list[float]]:
        assert self.index_config is not None
        dims = self.index_config["dims"]
        checked = []
        for vector in vectors:
            values = [float(x) for x in vector]
            if len(values) != dims or not all(map(math.isfinite, values)):
                raise ConfigError(
                    f"the embedding function returned a vector of {len(values)} numbers (or non-finite "
                    f"ones) but index['dims'] is {dims!r}; make them agree"
                )
            checked.append(values)
        return checked

    def _writes(
        self, keys: list[Key], puts: dict[Key, PutOp], texts: _Texts, vectors: list[list[float]]
    ) -> tuple[list[Key], list[Upsert]]:
        per_put: dict[int, list[tuple[str, Sequence[float]]]] = {}
        for (number, field, _), vector in zip(texts, vectors, strict=True):
            per_put.setdefault(number, []).append((field, vector))
        deletes = sorted(key for key in keys if puts[key].value is None)
        upserts = [
            Upsert(key[0], key[1], dict(puts[key].value or {}), puts[key].ttl, per_put.get(number, []))
            for number, key in enumerate(keys)
            if puts[key].value is not None
        ]
        # rows locked in key order, so concurrent batches do not deadlock each other
        return deletes, sorted(upserts, key=lambda u: (u.prefix, u.key))

    @staticmethod
    def _queries(plan: Plan) -> list[str]:
        return sorted({op.query for _, op, _ in plan.searches if op.query})

    def _results(self, count: int, plan: Plan) -> list[Result]:
        return [plan.results.get(i) for i in range(count)]

    # --- sync -----------------------------------------------------------------------------

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run ``ops`` (reads see the state before the batch's writes; the last put of a key wins)."""
        count, plan, puts = self._prepare(ops)
        keys, texts = self._texts(puts)
        if self.embeddings is not None:
            for query in self._queries(plan):
                plan.query_vectors[query] = self._check_dims([self.embeddings.embed_query(query)])[0]
            vectors = (
                self._check_dims(self.embeddings.embed_documents([t for _, _, t in texts])) if texts else []
            )
        else:
            vectors = []
        deletes, upserts = self._writes(keys, puts, texts, vectors)
        now = self._clock()
        try:
            if plan.gets or plan.searches or plan.listings:
                with self.engines.read() as conn:
                    drive(conn, read_ops(plan, now.timestamp()))
            if plan.refresh or deletes or upserts:
                with self.engines.write() as conn:
                    drive(conn, write_ops(self.engines.dialect, plan.refresh, deletes, upserts, now))
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise _persistence_error(self.engines, exc) from exc
        return self._results(count, plan)

    def sweep_ttl(self) -> int:
        """Delete every expired item now; return how many were deleted."""
        try:
            with self.engines.write() as conn:
                return drive(conn, sweep_op(self._clock().timestamp()))
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise _persistence_error(self.engines, exc) from exc

    def start_ttl_sweeper(
        self, sweep_interval_minutes: float | None = None
    ) -> concurrent.futures.Future[None]:
        """Delete expired items on a background thread every ``sweep_interval_minutes`` (default:
        the TTL config's ``sweep_interval_minutes``, else 5), until :meth:`stop_ttl_sweeper` or
        :meth:`close`; calling it again keeps the running sweeper. Async code calls it the same way
        (it does not block). Returns a future that finishes when the sweeper stops (cancel it to
        stop the sweeper)."""
        minutes = sweep_interval_minutes or (self.ttl_config or {}).get("sweep_interval_minutes") or 5
        if not (isinstance(minutes, int | float) and minutes > 0):
            raise ConfigError(f"sweep_interval_minutes must be a positive number, got {minutes!r}")
        return self._sweeper.start(60 * float(minutes))

    def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the background sweeper; whether it stopped within ``timeout`` seconds (or was not
        running)."""
        return self._sweeper.stop(timeout)

    def close(self) -> None:
        """Stop the TTL sweeper, then close the engines created here (see ``EngineResource``)."""
        self._sweeper.stop()
        super().close()

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        await asyncio.to_thread(self._sweeper.stop)
        await super().aclose()

    # --- async ----------------------------------------------------------------------------

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Async twin of :meth:`batch` (same statements, async driver)."""
        count, plan, puts = self._prepare(ops)
        keys, texts = self._texts(puts)
        if self.embeddings is not None:
            embeddings = self.embeddings
            queries = self._queries(plan)
            answers = await asyncio.gather(*(embeddings.aembed_query(q) for q in queries))
            plan.query_vectors.update(zip(queries, self._check_dims(answers), strict=True))
            documents = [t for _, _, t in texts]
            vectors = self._check_dims(await embeddings.aembed_documents(documents)) if documents else []
        else:
            vectors = []
        deletes, upserts = self._writes(keys, puts, texts, vectors)
        now = self._clock()
        try:
            if plan.gets or plan.searches or plan.listings:
                async with self.engines.aread() as conn:
                    await adrive(conn, read_ops(plan, now.timestamp()))
            if plan.refresh or deletes or upserts:
                async with self.engines.awrite() as conn:
                    await adrive(conn, write_ops(self.engines.dialect, plan.refresh, deletes, upserts, now))
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise _persistence_error(self.engines, exc) from exc
        return self._results(count, plan)

    async def asweep_ttl(self) -> int:
        """Async twin of :meth:`sweep_ttl`."""
        try:
            async with self.engines.awrite() as conn:
                return await adrive(conn, sweep_op(self._clock().timestamp()))
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise _persistence_error(self.engines, exc) from exc
