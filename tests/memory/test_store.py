"""SQLStore on every dialect: filters, TTL, semantic search, batching, errors."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from langchain_core.embeddings import Embeddings
from langgraph.store.base import GetOp, InvalidNamespaceError, ListNamespacesOp, PutOp, SearchOp
from tg_memory_support import Clock

from thinkgraph.exceptions import ConfigError, PersistenceError
from thinkgraph.memory import Ledger, SQLStore, create_engines, upgrade
from thinkgraph.memory._migrate import _config
from thinkgraph.memory._store_filter import matches
from thinkgraph.memory._store_schema import store_items, store_vectors
from thinkgraph.memory._ttl_sweeper import TTLSweeper


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 1, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
async def store(db_url: str, clock: Clock) -> AsyncIterator[SQLStore]:
    async with SQLStore(db_url, clock=clock) as store:
        await store.asetup()
        yield store


@pytest.fixture
def local_store() -> Iterator[SQLStore]:
    """An in-memory SQLite store, for what does not depend on the dialect."""
    with SQLStore("sqlite://") as store:
        store.setup()
        yield store


def _keys(items: list[Any]) -> set[str]:
    return {item.key for item in items}


# --- filters ------------------------------------------------------------------------------

DOCS: dict[str, dict[str, Any]] = {
    "flag-true": {"v": True, "d": "2024-05-01", "num": "5"},
    "one": {"v": 1, "d": "2024-01-15", "nested": {"x": {"y": 3}}},
    "one-float": {"v": 1.0, "d": "2023-12-31", "nested": {"x": [3]}},
    "zero": {"v": 0, "nested": {"x": {"y": 4}}},
    "text": {"v": "1", "d": "2024-03-01", "weird key": "a", 'quo"te': 1, "a.b": 2, "ünï": "ç"},
    "null": {"v": None, "list": [{"a": 1, "b": 2}]},
    "big": {"v": 2**60, "list": [{"a": 1}], "empty": {}},
    "array": {"v": [1], "nested": [5]},
}

CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({"v": True}, {"flag-true"}),
    ({"v": 1}, {"one", "one-float"}),
    ({"v": {"$eq": 1.0}}, {"one", "one-float"}),
    ({"v": "1"}, {"text"}),
    ({"v": None}, {"null"}),
    ({"v": {"$ne": 1}}, {"flag-true", "zero", "text", "null", "big", "array"}),
    ({"v": {"$ne": True}}, {"one", "one-float", "zero", "text", "null", "big", "array"}),
    ({"v": {"$gt": 0}}, {"one", "one-float", "big"}),
    ({"v": {"$gte": 2**60}}, {"big"}),
    ({"v": {"$lt": 1}}, {"zero"}),
    ({"v": {"$lte": 1, "$gt": 0.5}}, {"one", "one-float"}),
    ({"num": {"$gt": 1}}, set()),  # a numeric string is not a number
    ({"d": {"$gte": "2024-01-01"}}, {"flag-true", "one", "text"}),
    ({"d": {"$lt": "2024-02"}}, {"one", "one-float"}),
    ({"nested": {"x": {"y": 3}}}, {"one"}),
    ({"nested": {"x": {"y": {"$gt": 2}}}}, {"one", "zero"}),
    ({"nested": {"x": {"y": {"$ne": 3}}}}, {"zero"}),  # every level above must be an object
    ({"nested": {"x": [3]}}, {"one-float"}),
    ({"nested": {"0": 5}}, set()),  # an array is not an object, even on PostgreSQL
    ({"v": [1]}, {"array"}),
    ({"list": [{"a": 1}]}, {"null", "big"}),  # objects inside lists match as subsets
    ({"empty": {}}, {"big"}),
    ({"weird key": "a"}, {"text"}),
    ({'quo"te': 1}, {"text"}),
    ({"a.b": 2}, {"text"}),
    ({"ünï": "ç"}, {"text"}),
    ({"ünï": {"$gte": "c"}}, {"text"}),
    ({"missing": {"$ne": "x"}}, set(DOCS)),
    ({"v": {"$eq": [1]}}, {"array"}),
    ({"list": {"$eq": [{"a": 1}]}}, {"big"}),
    ({"v": 1, "d": "2024-01-15"}, {"one"}),
]


@pytest.mark.parametrize(("filter", "expected"), CASES, ids=[str(c[0]) for c in CASES])
def test_filter_semantics_in_python(filter: dict[str, Any], expected: set[str]) -> None:
    assert {key for key, doc in DOCS.items() if matches(doc, filter)} == expected


async def test_filters_in_sql_agree_with_python(store: SQLStore) -> None:
    for key, doc in DOCS.items():
        store.put(("f",), key, doc)
    store.put(("f", "x"), "other", {"v": "X"})
    for filter, expected in CASES:
        assert _keys(store.search(("f",), filter=filter, limit=100)) - {"other"} == expected, filter
        assert _keys(await store.asearch(("f",), filter=filter, limit=2, offset=0)) <= expected, filter
    assert _keys(store.search(("f",), filter={"v": "x"})) == set()  # case-sensitive
    assert _keys(store.search(("f",), filter={"v": {"$gte": "X"}})) == {"other"}


def test_bad_filters_are_config_errors(local_store: SQLStore) -> None:
    store = local_store
    with pytest.raises(ConfigError, match=r"\$regex"):
        store.search(("f",), filter={"v": {"$regex": "x"}})
    with pytest.raises(ConfigError, match=r"number or a string"):
        store.search(("f",), filter={"v": {"$gt": [1]}})
    with pytest.raises(ConfigError, match=r"number or a string"):
        store.search(("f",), filter={"v": {"$gt": True}})
    with pytest.raises(ConfigError, match="limit and offset"):
        store.search(("f",), limit=-1)
    with pytest.raises(ConfigError, match=r"\$in"):
        matches({"v": 1}, {"v": {"$in": [1]}})


# --- ids, namespaces, ordering ------------------------------------------------------------


async def test_ids_namespaces_order_and_timestamps(store: SQLStore, clock: Clock) -> None:
    # ids compare exactly: case, trailing spaces, unnormalized unicode
    for key in ["k", "K", "k ", " k", "é", "e\u0301"]:
        store.put(("n",), key, {"key": key})
    assert _keys(store.search(("n",), limit=100)) == {"k", "K", "k ", " k", "é", "e\u0301"}
    for key in ["k", "K", "k ", "é", "e\u0301"]:
        item = store.get(("n",), key)
        assert item is not None and item.value == {"key": key}
    assert store.get(("n",), "k  ") is None
    # a prefix is a whole label: ("n",) does not reach ("n-x",), ("nx",) or ("n ",)
    store.put(("n", "x"), "a", {})
    store.put(("n-x",), "b", {})
    store.put(("nx",), "c", {})
    store.put(("n ",), "d", {})
    assert _keys(store.search(("n",), limit=100)) == {"k", "K", "k ", " k", "é", "e\u0301", "a"}
    assert _keys(await store.asearch(("n", "x"))) == {"a"}
    assert store.list_namespaces(prefix=("n",)) == [("n",), ("n", "x")]
    assert store.list_namespaces() == [("n",), ("n", "x"), ("n ",), ("n-x",), ("nx",)]
    assert store.list_namespaces(limit=2, offset=3) == [("n-x",), ("nx",)]
    assert store.list_namespaces(suffix=("x",)) == [("n", "x")]
    assert await store.alist_namespaces(max_depth=1, prefix=("*",)) == [("n",), ("n ",), ("n-x",), ("nx",)]

    # newest first, then namespace and key; created_at survives updates
    for i in range(5):
        clock.advance(seconds=1)
        store.put(("o",), f"k{i}", {"i": i})
    first = store.get(("o",), "k1")
    clock.advance(minutes=5)
    store.put(("o",), "k1", {"i": 10})
    assert [item.key for item in store.search(("o",))] == ["k1", "k4", "k3", "k2", "k0"]
    assert [item.key for item in store.search(("o",), limit=2, offset=1)] == ["k4", "k3"]
    assert [item.key for item in store.search(("o",), filter={"l": None}, limit=2, offset=3)] == ["k2", "k0"]
    second = store.get(("o",), "k1")
    assert first is not None and second is not None
    assert second.created_at == first.created_at == datetime(2026, 1, 1, 12, 0, 2, tzinfo=UTC)
    assert second.updated_at == clock.now > first.updated_at

    # reads in a batch see the state before its writes; the last put of a key wins
    store.put(("b",), "k", {"v": 1})
    results = await store.abatch(
        [
            PutOp(("b",), "k", {"v": 2}),
            GetOp(("b",), "k"),
            SearchOp(("b",)),
            PutOp(("b",), "k", None),
            PutOp(("b",), "j", {"v": 3}),
            ListNamespacesOp(match_conditions=()),
        ]
    )
    assert results[1].value == {"v": 1}  # type: ignore[union-attr]
    assert [i.value for i in results[2]] == [{"v": 1}]  # type: ignore[union-attr]
    assert ("b",) in results[5]  # type: ignore[operator]
    assert store.get(("b",), "k") is None
    assert (await store.aget(("b",), "j")).value == {"v": 3}  # type: ignore[union-attr]


def test_large_batches_are_chunked() -> None:
    index = {"dims": len(VOCABULARY), "embed": bag_of_words, "fields": ["notes[*]"]}
    with SQLStore("sqlite://", index=index) as store:  # type: ignore[arg-type]
        store.setup()
        notes = ["cat", "dog", "fish"]
        store.batch([PutOp(("c", str(i % 7)), f"k{i}", {"i": i, "notes": notes}) for i in range(1200)])
        assert _vectors(store, "c.0") == 3 * len(range(0, 1200, 7))
        results = store.batch([GetOp(("c", str(i % 7)), f"k{i}") for i in range(1300)])
        assert [r.value["i"] if r else None for r in results] == list(range(1200)) + [None] * 100
        store.batch([PutOp(("c", str(i % 7)), f"k{i}", None) for i in range(1100)])
        assert len(store.search(("c",), limit=10_000)) == 100


def test_bad_puts_are_rejected(local_store: SQLStore) -> None:
    store = local_store
    with pytest.raises(InvalidNamespaceError):
        store.put(("a.b",), "k", {})
    with pytest.raises(InvalidNamespaceError):
        store.batch([PutOp((), "k", {})])
    with pytest.raises(InvalidNamespaceError):
        store.batch([GetOp(("a.b",), "k")])
    with pytest.raises(ConfigError, match="longer than 1024 bytes"):
        store.put(("a",), "é" * 600, {})
    with pytest.raises(ConfigError, match="not JSON"):
        store.put(("a",), "k", {"when": datetime.now()})
    with pytest.raises(ConfigError, match="not JSON"):
        store.put(("a",), "k", {"x": float("nan")})
    with pytest.raises(ConfigError, match="ttl"):
        store.batch([PutOp(("a",), "k", {}, ttl=-1)])
    with pytest.raises(ConfigError, match="unknown store operation"):
        store.batch(["get"])  # type: ignore[list-item]
    assert store.search(()) == []


# --- batching -----------------------------------------------------------------------------


def test_batches_use_a_fixed_number_of_statements(db_url: str) -> None:
    engines = create_engines(db_url)
    statements: list[str] = []

    @sa.event.listens_for(engines.sync, "before_cursor_execute")
    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "tg_store" in statement:
            statements.append(statement.split()[0].upper())

    with SQLStore(engines) as store:
        store.setup()
        statements.clear()
        store.batch([PutOp(("b", str(i % 3)), f"k{i}", {"i": i}) for i in range(120)])
        assert sorted(statements) == ["DELETE", "INSERT"]  # old vectors, then one upsert
        statements.clear()
        results = store.batch([GetOp(("b", str(i % 3)), f"k{i}") for i in range(130)])
        assert [r.value["i"] if r else None for r in results] == list(range(120)) + [None] * 10
        assert statements == ["SELECT"]
        statements.clear()
        store.batch([PutOp(("b", "0"), f"k{i}", None) for i in range(0, 120, 3)])
        assert statements == ["DELETE", "DELETE"]  # vectors, items
        assert len(store.search(("b",), limit=1000)) == 80
    engines.dispose()
    assert not store._owned


# --- TTL ----------------------------------------------------------------------------------


def _count(store: SQLStore, table: sa.Table) -> int:
    with store.engines.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _vectors(store: SQLStore, prefix: str) -> int:
    with store.engines.read() as conn:
        query = sa.select(sa.func.count()).where(store_vectors.c.prefix == prefix)
        return int(conn.execute(query).scalar_one())


async def test_ttl_expires_refreshes_and_sweeps(store: SQLStore, clock: Clock) -> None:
    store.put(("t",), "short", {"v": 1}, ttl=1)
    store.put(("t",), "forever", {"v": 2})
    store.put(("t", "x"), "short", {"v": 3}, ttl=1)
    clock.advance(seconds=40)
    assert store.get(("t",), "short") is not None  # refreshed: now expires at 100 s
    assert store.get(("t", "x"), "short", refresh_ttl=False) is not None
    clock.advance(seconds=40)  # 80 s
    assert store.get(("t",), "short") is not None
    assert store.get(("t", "x"), "short") is None  # expired at 60 s
    assert ("t", "x") not in store.list_namespaces()
    assert _keys(store.search(("t",))) == {"short", "forever"}  # refreshes "short" to 140 s
    clock.advance(seconds=70)  # 150 s
    assert _keys(await store.asearch(("t",))) == {"forever"}
    assert _count(store, store_items) == 3
    assert store.sweep_ttl() == 2
    assert _count(store, store_items) == 1
    assert await store.asweep_ttl() == 0

    # a default TTL without refresh on read, on a second store sharing the engines
    config = {"default_ttl": 2.0, "refresh_on_read": False}
    clock.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    with SQLStore(store.engines, ttl=config, clock=clock) as other:  # type: ignore[arg-type]
        await other.aput(("u",), "k", {"v": 1})
        other.put(("u",), "never", {"v": 0}, ttl=None)
        clock.advance(seconds=90)
        assert other.get(("u",), "k") is not None  # not refreshed: refresh_on_read is False
        assert other.get(("u",), "k", refresh_ttl=True) is not None  # refreshed: 210 s
        clock.advance(seconds=100)
        assert len(other.search(("u",))) == 2
        clock.advance(seconds=30)  # 220 s
        assert [i.key for i in other.search(("u",))] == ["never"]
        other.put(("u",), "k", {"v": 2})  # over the expired, unswept row: a new item
        item = other.get(("u",), "k")
        assert item is not None and item.created_at == clock.now and item.value == {"v": 2}
        clock.advance(seconds=200)
        assert await other.asweep_ttl() == 1
    assert store.get(("u",), "never") is not None  # the engines are still open


def _eventually(check: Any, seconds: float = 10) -> bool:
    """Whether ``check()`` holds within ``seconds`` (a background thread is at work)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


async def test_background_sweeper_deletes_expired_items_until_stopped(store: SQLStore, clock: Clock) -> None:
    store.put(("t",), "short", {"v": 1}, ttl=1)
    store.put(("t",), "forever", {"v": 2})
    clock.advance(seconds=61)
    done = store.start_ttl_sweeper(sweep_interval_minutes=0.0005)  # every 30 ms
    assert store.start_ttl_sweeper() is done  # already running: the same sweeper
    assert _eventually(lambda: _count(store, store_items) == 1)
    assert store.get(("t",), "forever") is not None
    assert store.stop_ttl_sweeper(timeout=5) and done.result(timeout=5) is None
    assert store.stop_ttl_sweeper()  # not running
    with pytest.raises(ConfigError, match="sweep_interval_minutes"):
        store.start_ttl_sweeper(sweep_interval_minutes=-1)
    # the TTL config's interval; cancelling the future stops the sweeper, and so does close()
    with SQLStore(store.engines, ttl={"sweep_interval_minutes": 0.0005}, clock=clock) as other:  # type: ignore[arg-type]
        assert other.start_ttl_sweeper().cancel()
        assert other.stop_ttl_sweeper(timeout=5)
        running = other.start_ttl_sweeper()
    assert not running.cancelled() and running.result(timeout=5) is None  # stopped by close()


def test_a_failing_sweep_is_logged_and_the_next_one_runs(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def sweep() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database is down")
        return 3

    sweeper = TTLSweeper(sweep)
    with caplog.at_level(logging.INFO, logger="thinkgraph.memory._ttl_sweeper"):
        sweeper.start(0.01)
        assert _eventually(lambda: len(calls) >= 2)
        assert sweeper.stop(timeout=5)
    assert len(calls) >= 2
    assert "TTL sweep failed" in caplog.text and "deleted 3 expired items" in caplog.text


# --- semantic search ----------------------------------------------------------------------

VOCABULARY = ["cat", "dog", "fish", "bird", "car", "road"]


def bag_of_words(texts: list[str]) -> list[list[float]]:
    """A deterministic toy embedding: word counts over a small vocabulary."""
    return [[float(text.lower().split().count(word)) for word in VOCABULARY] for text in texts]


class AsyncBagOfWords(Embeddings):
    """The same embedding as a LangChain ``Embeddings`` whose async path is the one used."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise AssertionError("the async store must use aembed_documents")

    def embed_query(self, text: str) -> list[float]:
        raise AssertionError("the async store must use aembed_query")

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return bag_of_words(texts)

    async def aembed_query(self, text: str) -> list[float]:
        return bag_of_words([text])[0]


@pytest.fixture
def semantic(db_url: str) -> Iterator[SQLStore]:
    index = {"dims": len(VOCABULARY), "embed": bag_of_words, "fields": ["title", "notes[*]"]}
    with SQLStore(db_url, index=index) as store:  # type: ignore[arg-type]
        store.setup()
        yield store


def test_semantic_search_ranks_by_cosine(semantic: SQLStore) -> None:
    semantic.put(("p",), "cats", {"title": "cat cat fish", "kind": "pet"})
    semantic.put(("p",), "dogs", {"title": "dog", "notes": ["dog dog", "cat"], "kind": "pet"})
    semantic.put(("p",), "cars", {"title": "car road", "kind": "thing"})
    semantic.put(("p",), "plain", {"kind": "pet"})  # nothing to embed
    semantic.put(("p",), "hidden", {"title": "cat"}, index=False)
    results = semantic.search(("p",), query="cat", limit=10)
    assert [r.key for r in results][:3] == ["dogs", "cats", "cars"]  # dogs: its note "cat" scores 1.0
    assert results[0].score == pytest.approx(1.0)
    assert results[1].score == pytest.approx(2 / 5**0.5)
    assert results[2].score == 0.0
    assert {r.key for r in results[3:]} == {"plain", "hidden"}
    assert all(r.score is None for r in results[3:])
    filtered = semantic.search(("p",), query="dog", filter={"kind": "pet"}, limit=2, offset=1)
    assert [r.key for r in filtered] == ["cats", "plain"]
    assert [r.key for r in semantic.search(("p",), query="road", limit=1)] == ["cars"]

    # updates replace the vectors of an item, deletes remove them
    semantic.put(("q",), "a", {"title": "cat", "notes": ["dog", "bird"]})
    assert _vectors(semantic, "q") == 3
    semantic.put(("q",), "a", {"title": "fish"}, index=["title"])
    assert _vectors(semantic, "q") == 1
    assert semantic.search(("q",), query="dog")[0].score == 0.0  # the old "dog" vector is gone
    semantic.put(("q",), "a", {"title": "fish"}, index=False)
    assert _vectors(semantic, "q") == 0
    semantic.put(("q",), "a", {"title": "fish"})
    semantic.delete(("q",), "a")
    assert _vectors(semantic, "q") == 0


async def test_async_embeddings_and_whole_value_default() -> None:
    index = {"dims": len(VOCABULARY), "embed": AsyncBagOfWords()}
    async with SQLStore("sqlite://", index=index) as store:  # type: ignore[arg-type]
        await store.asetup()
        await store.aput(("p",), "a", {"text": "bird"})  # fields default to "$": the whole value
        await store.aput(("p",), "b", {"text": "car"})
        results = await store.asearch(("p",), query="car")
        assert [r.key for r in results] == ["b", "a"]


def test_index_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="dims"):
        SQLStore("sqlite://", index={"embed": bag_of_words})  # type: ignore[typeddict-item]
    with pytest.raises(ConfigError, match="embed"):
        SQLStore("sqlite://", index={"dims": 3})
    with SQLStore("sqlite://", index={"dims": 3, "embed": bag_of_words}) as store:
        store.setup()
        with pytest.raises(ConfigError, match="dims"):
            store.put(("p",), "a", {"text": "cat"})
        with pytest.raises(ConfigError, match="dims"):
            store.search(("p",), query="cat")


# --- lifecycle ----------------------------------------------------------------------------


async def test_missing_tables_are_a_persistence_error() -> None:
    async with SQLStore("sqlite://") as store:
        with pytest.raises(PersistenceError, match=r"setup\(\)"):
            store.get(("a",), "k")
        with pytest.raises(PersistenceError, match=r"setup\(\)"):
            await store.aput(("a",), "k", {})
        with pytest.raises(PersistenceError):
            store.sweep_ttl()
        with pytest.raises(PersistenceError):
            await store.asweep_ttl()


async def test_shared_engines_stay_open_and_the_migration_downgrades(tmp_path: Path) -> None:
    engines = create_engines(f"sqlite:///{tmp_path / 'shared.db'}")
    async with SQLStore(engines) as store, Ledger(engines) as ledger:
        await store.asetup()
        await store.aput(("a",), "k", {"v": 1})
        ledger.start_run(run_id="r")
    with SQLStore(engines) as store, Ledger(engines) as ledger:  # closing them left the engines open
        assert store.get(("a",), "k") is not None and ledger.get_run("r") is not None
    tables = {"tg_store_items", "tg_store_vectors", "tg_runs", "tg_model_calls", "tg_tool_calls"}
    assert tables <= set(sa.inspect(engines.sync).get_table_names())
    with engines.write() as conn:
        command.downgrade(_config(conn), "0001")
    assert not tables & set(sa.inspect(engines.sync).get_table_names())
    upgrade(engines)
    assert tables <= set(sa.inspect(engines.sync).get_table_names())
    await engines.adispose()


def test_concurrent_batches_on_shared_keys(shared_db_url: str) -> None:
    with SQLStore(shared_db_url) as store:
        store.setup()

        def writer(seed: int) -> None:
            rng = random.Random(seed)
            for round_ in range(6):
                keys = rng.sample(range(40), 25)  # overlapping keys, each batch in its own order
                ops = [PutOp(("c", str(k % 3)), f"k{k}", {"w": seed, "r": round_}) for k in keys]
                ops += [PutOp(("c", "0"), f"k{k}", None) for k in rng.sample(range(40, 60), 3)]
                store.batch(ops)

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(writer, range(4)))
        items = store.search(("c",), limit=1000)
        assert 25 <= len(items) <= 40
        assert all(set(item.value) == {"w", "r"} for item in items)
