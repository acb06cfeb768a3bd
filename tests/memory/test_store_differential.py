"""SQLStore against LangGraph's InMemoryStore: the same random operations, the same answers.

A seeded random sequence of puts, deletes, gets, searches (filters, limit, offset), namespace
listings (prefix, suffix, wildcards, max_depth, limit, offset) and mixed batches runs on every
dialect, through the sync API for some steps and the async API for the others.

Where the reference leaves something unspecified or differs on purpose, the comparison says so:

* Search order: InMemoryStore returns items in dict insertion order, SQLStore newest first
  (``updated_at`` descending, then namespace and key). Full result sets are compared as sets;
  a page (limit/offset) must be the same slice of SQLStore's own full order, and as long as the
  reference's page.
* Namespace listings: InMemoryStore keeps a namespace after its last item is deleted, and even
  creates one when a get misses (a ``defaultdict``). SQLStore lists namespaces that hold items;
  the test prunes empty namespaces from the reference before comparing. Both sort the same way.
* Semantic search ranks by score in both; items that share a text tie, and ties may come in
  either order, so scores are compared per item and SQLStore's ranking must not increase. Items
  without vectors come after the scored ones in SQLStore and are paged with them; InMemoryStore
  appends them to any page that is not full, ignoring the offset, so they are compared as a set
  of the full result.
* Values keep JSON types apart (``True != 1``); the generated data never mixes booleans and
  numbers in one field, and comparison operators only meet numeric fields (InMemoryStore
  raises on missing or non-numeric fields).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from langgraph.store.base import GetOp, Item, ListNamespacesOp, MatchCondition, PutOp, SearchOp
from langgraph.store.memory import InMemoryStore

from thinkgraph.memory import SQLStore

NAMESPACES: list[tuple[str, ...]] = [
    ("a",),
    ("a", "b"),
    ("a", "b", "c"),
    ("a", "c"),
    ("a", "b ", "c"),
    ("ab",),
    ("a-b",),
    ("b",),
    ("b", "a"),
    ("ü", "x"),
]
KEYS = ["k", "K", "k ", "k2", "ключ", "a.b", ""]
FILTERS: list[dict[str, Any]] = [
    {"s": "x"},
    {"s": "X"},
    {"s": {"$ne": "x"}},
    {"s": {"$eq": "ü"}},
    {"n": {"$gt": 0}},
    {"n": {"$lte": 2.5}},
    {"n": {"$gte": -1, "$lt": 3}},
    {"n": 2},
    {"n": 2.0},
    {"n": {"$ne": 1}},
    {"flag": True},
    {"flag": {"$ne": True}},
    {"tag": "t1"},
    {"tag": {"$ne": "t1"}},
    {"tag": None},
    {"meta": {"a": 1}},
    {"meta": {"b": {"$ne": "q"}}},
    {"meta": {"a": {"$gt": 0}}},
    {"l": [1, 2]},
    {"s": "x", "n": {"$gt": -2}},
    {"flag": False, "tag": {"$ne": "t2"}},
]


def _value(rng: random.Random) -> dict[str, Any]:
    value: dict[str, Any] = {
        "n": rng.choice([-2, -1.5, 0, 1, 2, 2.0, 2.5, 3]),
        "s": rng.choice(["x", "X", "y", "hello", "ü", "x "]),
        "flag": rng.choice([True, False]),
    }
    if rng.random() < 0.5:
        value["tag"] = rng.choice(["t1", "t2", None])
    if rng.random() < 0.5:
        value["meta"] = {"a": rng.choice([0, 1, 2]), "b": rng.choice(["q", "r"])}
        if rng.random() < 0.3:
            del value["meta"]["b"]
    if rng.random() < 0.3:
        value["l"] = rng.choice([[1, 2], [2, 1], [1, 2, 3], []])
    if rng.random() < 0.2:
        value["text"] = rng.choice(["héllo wörld", 'quote " and \\ slash', "line\nbreak"])
    return value


def _prefix(rng: random.Random) -> tuple[str, ...]:
    return rng.choice([(), ("a",), ("a", "b"), ("b",), ("ab",), ("a", "b "), ("ü",), ("zz",)])


def _conditions(rng: random.Random) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if rng.random() < 0.5:
        options["prefix"] = rng.choice([("a",), ("a", "*"), ("*", "b"), ("a", "b"), ("b",), ("x",)])
    if rng.random() < 0.4:
        options["suffix"] = rng.choice([("c",), ("b",), ("*",), ("a", "*"), ("x",)])
    if rng.random() < 0.4:
        options["max_depth"] = rng.choice([1, 2, 3])
    options["limit"] = rng.choice([100, 2, 3])
    options["offset"] = rng.choice([0, 0, 1, 2])
    return options


def _signature(items: list[Item]) -> list[tuple[tuple[str, ...], str, str]]:
    return sorted((item.namespace, item.key, json.dumps(item.value, sort_keys=True)) for item in items)


def _prune(reference: InMemoryStore) -> None:
    """Drop the namespaces InMemoryStore keeps after their last item went (see the module doc)."""
    for namespace in [ns for ns, items in reference._data.items() if not items]:
        del reference._data[namespace]


def _check_item(mine: Item | None, theirs: Item | None) -> None:
    if theirs is None:
        assert mine is None
        return
    assert mine is not None
    assert (mine.namespace, mine.key, mine.value) == (theirs.namespace, theirs.key, theirs.value)
    assert mine.created_at.tzinfo is not None and mine.created_at <= mine.updated_at


class Driver:
    """Applies one random operation to both stores, through the sync or the async API."""

    def __init__(self, store: SQLStore, reference: InMemoryStore, rng: random.Random) -> None:
        self.store, self.reference, self.rng = store, reference, rng

    async def call(self, name: str, use_async: bool, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        if use_async:
            mine = await getattr(self.store, "a" + name)(*args, **kwargs)
        else:
            mine = getattr(self.store, name)(*args, **kwargs)
        return mine, getattr(self.reference, name)(*args, **kwargs)

    async def step(self, use_async: bool) -> None:
        rng = self.rng
        kind = rng.choices(["put", "delete", "get", "search", "list", "batch"], [8, 2, 3, 5, 3, 1])[0]
        namespace, key = rng.choice(NAMESPACES), rng.choice(KEYS)
        if kind == "put":
            await self.call("put", use_async, namespace, key, _value(rng))
        elif kind == "delete":
            await self.call("delete", use_async, namespace, key)
        elif kind == "get":
            mine, theirs = await self.call("get", use_async, namespace, key)
            _check_item(mine, theirs)
        elif kind == "search":
            await self.search(use_async)
        elif kind == "list":
            _prune(self.reference)
            options = _conditions(rng)
            mine, theirs = await self.call("list_namespaces", use_async, **options)
            assert mine == theirs, options
        else:
            await self.batch(use_async)

    async def search(self, use_async: bool) -> None:
        prefix = _prefix(self.rng)
        filter = self.rng.choice([None, *FILTERS])
        everything, reference_all = await self.call("search", use_async, prefix, filter=filter, limit=1000)
        assert _signature(everything) == _signature(reference_all), (prefix, filter)
        limit, offset = self.rng.choice([1, 2, 5]), self.rng.choice([0, 1, 3])
        page, reference_page = await self.call(
            "search", use_async, prefix, filter=filter, limit=limit, offset=offset
        )
        assert [(i.namespace, i.key) for i in page] == [
            (i.namespace, i.key) for i in everything[offset : offset + limit]
        ]
        assert len(page) == len(reference_page)

    async def batch(self, use_async: bool) -> None:
        rng = self.rng
        namespace, key = rng.choice(NAMESPACES), rng.choice(KEYS)
        # the listing comes first: InMemoryStore's gets create empty namespaces as they run
        ops = [
            ListNamespacesOp(match_conditions=(MatchCondition("prefix", ("a",)),)),
            GetOp(namespace, key),
            PutOp(namespace, key, _value(rng)),
            GetOp(namespace, key),
            PutOp(rng.choice(NAMESPACES), rng.choice(KEYS), _value(rng)),
            PutOp(namespace, key, None if rng.random() < 0.5 else _value(rng)),
            SearchOp(("a",), filter=rng.choice(FILTERS), limit=1000),
        ]
        _prune(self.reference)
        mine = await self.store.abatch(ops) if use_async else self.store.batch(ops)
        theirs = self.reference.batch(ops)
        assert mine[0] == theirs[0]
        _check_item(mine[1], theirs[1])
        _check_item(mine[3], theirs[3])
        assert _signature(mine[6]) == _signature(theirs[6])
        assert mine[2] is mine[4] is mine[5] is None


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SQLStore]:
    async with SQLStore(db_url) as store:
        store.setup()
        yield store


async def test_same_answers_as_in_memory_store(store: SQLStore) -> None:
    rng = random.Random(20261123)
    driver = Driver(store, InMemoryStore(), rng)
    for step in range(220):
        await driver.step(use_async=step % 3 == 0)
    # the end state agrees completely
    everything = store.search((), limit=10_000)
    assert len(everything) > 20
    assert _signature(everything) == _signature(driver.reference.search((), limit=10_000))


# --- semantic search ----------------------------------------------------------------------


def hashed_embedding(texts: list[str]) -> list[list[float]]:
    """A deterministic 8-dimensional embedding (a hash, not semantics): only equal texts tie."""
    vectors = []
    for text in texts:
        digest = hashlib.sha256(text.encode()).digest()
        vectors.append([(b - 127.5) / 127.5 for b in digest[:8]])
    return vectors


INDEX_FIELDS = ["text", "tags[*]", "meta.title"]


def _doc(rng: random.Random) -> dict[str, Any]:
    doc: dict[str, Any] = {"n": rng.randint(0, 3)}
    if rng.random() < 0.8:
        doc["text"] = rng.choice(["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]) + str(
            rng.randint(0, 9)
        )
    if rng.random() < 0.5:
        # distinct texts: InMemoryStore miscounts embeddings when an item repeats a text
        doc["tags"] = rng.sample(["red", "green", "blue", "cyan"], rng.randint(1, 3))
    if rng.random() < 0.3:
        doc["meta"] = {"title": rng.choice(["one", "two", "three"])}
    return doc


@pytest.fixture
async def vector_store(db_url: str) -> AsyncIterator[SQLStore]:
    index = {"dims": 8, "embed": hashed_embedding, "fields": INDEX_FIELDS}
    async with SQLStore(db_url, index=index) as store:  # type: ignore[arg-type]
        await store.asetup()
        yield store


async def test_semantic_search_ranks_like_in_memory_store(vector_store: SQLStore) -> None:
    rng = random.Random(7)
    reference = InMemoryStore(index={"dims": 8, "embed": hashed_embedding, "fields": INDEX_FIELDS})
    for step in range(40):
        # every key once: on an update InMemoryStore keeps the old vectors of paths the new value
        # lacks (and all of them with index=False); SQLStore replaces them (tested in test_store.py)
        namespace, key, doc = rng.choice([("d",), ("d", "x"), ("e",)]), f"k{step}", _doc(rng)
        index = rng.choice([None, None, None, False, ["tags[*]"]])
        if step % 2:
            await vector_store.aput(namespace, key, doc, index=index)
        else:
            vector_store.put(namespace, key, doc, index=index)
        reference.put(namespace, key, doc, index=index)
    for query in ["alpha1", "red", "two", "nothing like it"]:
        for prefix, filter in [((), None), (("d",), None), ((), {"n": {"$gte": 1}}), ((), {"tags": ["red"]})]:
            mine = vector_store.search(prefix, query=query, filter=filter, limit=100)
            theirs = reference.search(prefix, query=query, filter=filter, limit=100)
            # equal texts give equal scores, and ties may come in either order
            scores = [i.score for i in mine if i.score is not None]
            assert scores == sorted(scores, reverse=True)
            scored = {(i.namespace, i.key, round(i.score, 9)) for i in mine if i.score is not None}
            assert scored == {(i.namespace, i.key, round(i.score, 9)) for i in theirs if i.score is not None}
            assert {(i.namespace, i.key) for i in mine if i.score is None} == {
                (i.namespace, i.key) for i in theirs if i.score is None
            }
            assert [i.score is None for i in mine] == sorted(i.score is None for i in mine)  # scored first
            # a page of the ranking
            page = await vector_store.asearch(prefix, query=query, filter=filter, limit=3, offset=2)
            assert [(i.namespace, i.key) for i in page] == [(i.namespace, i.key) for i in mine[2:5]]
