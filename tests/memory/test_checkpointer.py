"""SQLCheckpointer behaviour on every dialect: round trips, filters, writes, storage, queries."""

from __future__ import annotations

import enum
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ERROR, INTERRUPT
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.graph import END, START, StateGraph
from sqlalchemy import event, func, select, text
from tg_memory_support import checkpoint, config

from thinkgraph.exceptions import ConfigError, PersistenceError, SchemaTooOldError
from thinkgraph.memory import SQLCheckpointer
from thinkgraph.memory._checkpointer_sql import drive
from thinkgraph.memory._schema import checkpoint_blobs, checkpoints


@pytest.fixture
def saver(db_url: str) -> Iterator[SQLCheckpointer]:
    with SQLCheckpointer(db_url) as s:
        s.setup()
        yield s


@pytest.fixture
async def asaver(db_url: str) -> AsyncIterator[SQLCheckpointer]:
    async with SQLCheckpointer(db_url) as s:
        await s.asetup()
        yield s


def put_chain(saver: SQLCheckpointer, thread: str, steps: list[dict[str, Any]], ns: str = "") -> list[str]:
    """Put one checkpoint per step; each step dict is (values, versions, new_versions, metadata)."""
    ids: list[str] = []
    parent: str | None = None
    for step in steps:
        cp = checkpoint(step["values"], step["versions"])
        saver.put(config(thread, ns, parent), cp, step.get("metadata", {}), step["new"])
        parent = cp["id"]
        ids.append(cp["id"])
    return ids


def count(saver: SQLCheckpointer, table: Any) -> int:
    with saver.engines.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# --- round trips --------------------------------------------------------------------------


async def test_sync_and_async_read_each_others_writes(asaver: SQLCheckpointer) -> None:
    thread = "thread-1"
    cp1 = checkpoint({"a": [1, 2], "b": "x"}, {"a": "1", "b": "1"})
    cfg1 = asaver.put(
        config(thread), cp1, {"source": "input", "step": -1, "parents": {}}, {"a": "1", "b": "1"}
    )
    cp2 = checkpoint({"a": [1, 2, 3], "b": "x"}, {"a": "2", "b": "1"})
    cfg2 = await asaver.aput(cfg1, cp2, {"source": "loop", "step": 0, "parents": {}}, {"a": "2"})
    await asaver.aput_writes(cfg2, [("a", 4), (ERROR, "boom")], "task-b", "path-b")
    asaver.put_writes(cfg2, [("b", "y")], "task-a", "path-a")

    for tup in (asaver.get_tuple(config(thread)), await asaver.aget_tuple(config(thread))):
        assert tup is not None
        assert tup.checkpoint["channel_values"] == {"a": [1, 2, 3], "b": "x"}
        assert tup.checkpoint["id"] == cp2["id"]
        assert tup.metadata == {"source": "loop", "step": 0, "parents": {}}
        assert tup.parent_config == config(thread, "", cp1["id"])
        # sorted by (task_path, task_id, idx): ERROR has idx -1
        assert tup.pending_writes == [("task-a", "b", "y"), ("task-b", ERROR, "boom"), ("task-b", "a", 4)]
    older = await asaver.aget_tuple(config(thread, "", cp1["id"]))
    assert older is not None and older.checkpoint["channel_values"] == {"a": [1, 2], "b": "x"}
    assert older.parent_config is None
    assert [t.checkpoint["id"] for t in asaver.list(config(thread))] == [cp2["id"], cp1["id"]]
    assert [t.checkpoint["id"] async for t in asaver.alist(config(thread))] == [cp2["id"], cp1["id"]]
    assert asaver.get_tuple(config("missing")) is None


def test_special_writes_upsert_regular_writes_are_written_once(saver: SQLCheckpointer) -> None:
    cfg = saver.put(config("t"), checkpoint({}, {}), {}, {})
    saver.put_writes(cfg, [("ch", "first")], "task")
    saver.put_writes(cfg, [("ch", "second")], "task")  # same (task, idx): ignored
    saver.put_writes(cfg, [(INTERRUPT, "first")], "task")
    saver.put_writes(cfg, [(INTERRUPT, "second")], "task")  # special channel: replaced
    saver.put_writes(cfg, [], "task")
    tup = saver.get_tuple(cfg)
    assert tup is not None
    assert sorted(tup.pending_writes or []) == [("task", INTERRUPT, "second"), ("task", "ch", "first")]


def test_channel_removed_in_new_versions_reads_as_absent(saver: SQLCheckpointer) -> None:
    cfg = saver.put(config("t"), checkpoint({"a": 1}, {"a": "1"}), {}, {"a": "1"})
    saver.put(cfg, checkpoint({}, {"a": "2"}), {}, {"a": "2"})
    tup = saver.get_tuple(config("t"))
    assert tup is not None and tup.checkpoint["channel_values"] == {}


def test_ids_are_case_sensitive_and_namespaces_may_be_long(saver: SQLCheckpointer) -> None:
    long_ns = "parent:" + "x" * 3000
    put_chain(saver, "Thread", [{"values": {"v": "upper"}, "versions": {"v": "1"}, "new": {"v": "1"}}])
    put_chain(saver, "thread", [{"values": {"v": "lower"}, "versions": {"v": "1"}, "new": {"v": "1"}}])
    put_chain(
        saver, "thread", [{"values": {"v": "deep"}, "versions": {"v": "1"}, "new": {"v": "1"}}], long_ns
    )
    upper, lower = saver.get_tuple(config("Thread")), saver.get_tuple(config("thread"))
    assert upper is not None and upper.checkpoint["channel_values"] == {"v": "upper"}
    assert lower is not None and lower.checkpoint["channel_values"] == {"v": "lower"}
    deep = saver.get_tuple(config("thread", long_ns))
    assert deep is not None and deep.config["configurable"]["checkpoint_ns"] == long_ns
    assert deep.checkpoint["channel_values"] == {"v": "deep"}
    assert len(list(saver.list({"configurable": {"thread_id": "thread"}}))) == 2  # every namespace
    assert len(list(saver.list(config("thread")))) == 1


# --- list ---------------------------------------------------------------------------------

METADATA = [
    {"source": "input", "step": 1, "flag": True, "none": None, "nested": {"a": 1}, "s1": "1", "f": 1.5},
    {"source": "loop", "step": 2, "flag": False, "nested": {"a": 2}, "s1": "one", "f": 2.5, "Source": "x"},
    {"source": "Input", "step": 3, "nested": [1, 2], "s1": "1.0", "f": 1, 'weird"key': "w"},
]
FILTERS: list[dict[str, Any]] = [
    {},
    {"source": "input"},
    {"source": "INPUT"},
    {"step": 1},
    {"step": "1"},
    {"s1": "1"},
    {"s1": 1},
    {"flag": True},
    {"flag": False},
    {"none": None},
    {"missing": None},
    {"nested": {"a": 1}},
    {"nested": [1, 2]},
    {"nested": {"a": 3}},
    {"f": 1.5},
    {"f": 1},
    {"source": "loop", "step": 2},
    {"source": "loop", "step": 3},
    {'weird"key': "w"},
    {"Source": "x"},
]


async def test_metadata_filter_matches_in_memory_saver(asaver: SQLCheckpointer) -> None:
    reference = InMemorySaver()
    parent: str | None = None
    for meta in METADATA:
        cp = checkpoint({}, {})
        for target in (asaver, reference):
            target.put(config("t", "", parent), cp, dict(meta), {})
        parent = cp["id"]
    for filter in FILTERS:
        expected = [t.checkpoint["id"] for t in reference.list(config("t"), filter=filter)]
        assert [t.checkpoint["id"] for t in asaver.list(config("t"), filter=filter)] == expected, filter
        assert [t.checkpoint["id"] async for t in asaver.alist(config("t"), filter=filter)] == expected, (
            filter
        )
        assert [t.checkpoint["id"] for t in asaver.list(None, filter=filter)] == expected, filter


def test_list_pages_limit_and_before(db_url: str) -> None:
    with SQLCheckpointer(db_url, page_size=3) as saver:
        ids = put_chain(
            saver, "t", [{"values": {}, "versions": {}, "new": {}, "metadata": {"i": i}} for i in range(10)]
        )
        newest_first = ids[::-1]
        assert [t.checkpoint["id"] for t in saver.list(config("t"))] == newest_first
        assert [t.checkpoint["id"] for t in saver.list(config("t"), limit=7)] == newest_first[:7]
        before = config("t", "", ids[5])
        assert [t.checkpoint["id"] for t in saver.list(config("t"), before=before)] == newest_first[5:]
        assert [t.checkpoint["id"] for t in saver.list(config("t"), before=before, limit=2)] == newest_first[
            5:7
        ]
        assert [t.checkpoint["id"] for t in saver.list(config("t"), limit=0)] == []
        assert [t.metadata["i"] for t in saver.list(config("t"), filter={"i": 4})] == [4]
        assert [t.checkpoint["id"] for t in saver.list(config("t", "", ids[2]))] == [ids[2]]
        # a duplicated thread has the same checkpoint ids: paging across threads must not skip
        saver.copy_thread("t", "u")
        assert len(list(saver.list(None))) == 20
        with pytest.raises(ConfigError, match="page_size"):
            SQLCheckpointer(db_url, page_size=0)


def test_list_and_get_tuple_issue_a_fixed_number_of_statements(saver: SQLCheckpointer) -> None:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    # SQLite's and PostgreSQL's get_tuple run on the driver's cursor: count what the driver runs
    factories: dict[int, Any] = {}

    def trace(dbapi_conn: Any, *args: Any) -> None:
        if saver.engines.dialect == "sqlite":
            dbapi_conn.set_trace_callback(statements.append)
            return
        factories[id(dbapi_conn)] = base = dbapi_conn.cursor_factory

        class Counting(base):  # type: ignore[misc,valid-type]
            def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
                statements.append(str(query))
                return super().execute(query, *args, **kwargs)

        dbapi_conn.cursor_factory = Counting

    def untrace(dbapi_conn: Any, *args: Any) -> None:
        if saver.engines.dialect == "sqlite":
            dbapi_conn.set_trace_callback(None)
        else:
            dbapi_conn.cursor_factory = factories.pop(id(dbapi_conn))

    driver_level = saver.engines.dialect in ("sqlite", "postgresql")
    listeners = [("checkout", trace), ("checkin", untrace)]
    if not driver_level:
        listeners = [("before_cursor_execute", record)]

    def put_thread(thread: str, n: int) -> None:
        # the checkpointer's own statements, in one transaction to keep the test fast
        parent: str | None = None
        with saver.engines.write() as conn:
            for i in range(n):
                cp = checkpoint({"counter": [i], "fixed": ["same"]}, {"counter": str(i + 1), "fixed": "1"})
                new = {"counter": str(i + 1), "fixed": "1"}
                cfg = drive(conn, saver.plans.put(config(thread, "", parent), cp, {"step": i}, new))
                drive(conn, saver.plans.put_writes(cfg, [("counter", i), ("other", "x")], f"task-{i}", ""))
                parent = cp["id"]

    put_thread("small", 50)
    put_thread("large", 500)
    engines = saver.engines
    counts = {}
    for thread, size in (("small", 50), ("large", 500)):
        # PostgreSQL reads run on the raw pool's engine
        targets = [engine for engine in (engines.sync, engines.raw[0]) if engine is not None]
        for name, listener in listeners:
            for engine in targets:
                event.listen(engine, name, listener)
        try:
            statements.clear()
            items = list(saver.list(config(thread)))
            assert len(items) == size
            assert all(len(item.pending_writes or []) == 2 for item in items)
            list_count = len(statements)
            statements.clear()
            assert saver.get_tuple(config(thread)) is not None
            counts[thread] = (list_count, len(statements))
        finally:
            for name, listener in listeners:
                for engine in targets:
                    event.remove(engine, name, listener)
    assert counts["small"] == counts["large"]
    assert counts["large"][0] >= 3 and counts["large"][1] >= 3
    queries = [s for s in statements if s.split()[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK")]
    assert len(queries) == 3  # checkpoint + blobs + writes


def test_unchanged_channels_are_stored_once(saver: SQLCheckpointer) -> None:
    big = "x" * 50_000
    parent: str | None = None
    for i in range(20):
        cp = checkpoint({"big": big, "counter": [i]}, {"big": "1", "counter": str(i + 1)})
        new = {"counter": str(i + 1)} if i else {"big": "1", "counter": "1"}
        saver.put(config("t", "", parent), cp, {}, new)
        parent = cp["id"]
    assert count(saver, checkpoint_blobs) == 21  # big once, counter 20 times
    with saver.engines.read() as conn:
        stored = conn.execute(select(func.sum(func.length(checkpoint_blobs.c.blob)))).scalar_one()
    assert 50_000 < int(stored) < 50_000 + 20 * 64
    latest = saver.get_tuple(config("t"))
    assert latest is not None and latest.checkpoint["channel_values"] == {"big": big, "counter": [19]}
    assert all(t.checkpoint["channel_values"]["big"] == big for t in saver.list(config("t")))


class Color(enum.IntEnum):
    RED = 1


def test_small_scalars_travel_in_the_checkpoint_row(saver: SQLCheckpointer) -> None:
    scalars = {"none": None, "flag": True, "n": 7, "x": 0.5, "word": "ok", "edge": "e" * 256}
    blobs = {"long": "l" * 257, "huge": 2**63, "color": Color.RED, "items": [1]}
    values = {**scalars, **blobs}
    versions = dict.fromkeys(values, "1")
    first = saver.put(config("t"), checkpoint(values, versions), {}, versions)
    # the next step changes nothing: every value comes back, scalars from the newest row itself
    saver.put(config("t", "", first["configurable"]["checkpoint_id"]), checkpoint(values, versions), {}, {})
    with saver.engines.read() as conn:
        stored = set(conn.execute(select(checkpoint_blobs.c.channel)).scalars())
    assert stored == set(blobs)
    for tup in [saver.get_tuple(config("t")), *saver.list(config("t"))]:
        assert tup is not None
        got = tup.checkpoint["channel_values"]
        assert got == values and type(got["color"]) is Color and type(got["n"]) is int


# --- serialization ------------------------------------------------------------------------


def test_encrypted_serializer(db_url: str) -> None:
    serde = EncryptedSerializer.from_pycryptodome_aes(key=b"k" * 32)
    with SQLCheckpointer(db_url, serde=serde) as saver:
        cfg = saver.put(
            config("t"), checkpoint({"secret": "PLAINTEXT-VALUE"}, {"secret": "1"}), {}, {"secret": "1"}
        )
        saver.put_writes(cfg, [("secret", "PLAINTEXT-WRITE")], "task")
        tup = saver.get_tuple(config("t"))
        assert tup is not None and tup.checkpoint["channel_values"] == {"secret": "PLAINTEXT-VALUE"}
        assert tup.pending_writes == [("task", "secret", "PLAINTEXT-WRITE")]
        with saver.engines.read() as conn:
            rows = conn.execute(select(checkpoints.c.type, checkpoints.c.checkpoint)).all()
        # the short string travels in the checkpoint row, encrypted with it
        assert rows and all(row.type.endswith("+aes") and b"PLAINTEXT" not in row.checkpoint for row in rows)
        wrong = SQLCheckpointer(saver.engines, serde=EncryptedSerializer.from_pycryptodome_aes(key=b"w" * 32))
        with pytest.raises(ValueError):
            wrong.get_tuple(config("t"))


# --- deletes, copies, prune ---------------------------------------------------------------


def test_delete_for_runs_and_prune_remove_unused_blobs(saver: SQLCheckpointer) -> None:
    steps = [
        {
            "values": {"a": [i], "k": ["keep"]},
            "versions": {"a": str(i + 1), "k": "1"},
            "new": {"a": str(i + 1)},
        }
        for i in range(4)
    ]
    steps[0]["new"] = {"a": "1", "k": "1"}
    for i, step in enumerate(steps):
        step["metadata"] = {"run_id": "run-old" if i < 2 else "run-new"}
    ids = put_chain(saver, "t", steps)
    assert count(saver, checkpoint_blobs) == 5
    saver.delete_for_runs(["run-old"])
    assert [t.checkpoint["id"] for t in saver.list(config("t"))] == [ids[3], ids[2]]
    assert count(saver, checkpoint_blobs) == 3  # a=1 and a=2 freed, k kept (still used)
    survivor = saver.get_tuple(config("t", "", ids[2]))
    assert survivor is not None and survivor.parent_config is None
    assert survivor.checkpoint["channel_values"] == {"a": [2], "k": ["keep"]}
    saver.delete_for_runs([])
    saver.prune(["t"], strategy="keep_latest")
    assert [t.checkpoint["id"] for t in saver.list(config("t"))] == [ids[3]]
    assert count(saver, checkpoint_blobs) == 2
    saver.prune([], strategy="delete")
    saver.prune(["t"], strategy="delete")
    assert count(saver, checkpoints) == count(saver, checkpoint_blobs) == 0
    with pytest.raises(ConfigError, match="'newest'"):
        saver.prune(["t"], strategy="newest")


def test_copy_thread_keeps_existing_target_rows(saver: SQLCheckpointer) -> None:
    ids = put_chain(saver, "src", [{"values": {"a": 1}, "versions": {"a": "1"}, "new": {"a": "1"}}])
    saver.put_writes(config("src", "", ids[0]), [("a", 2)], "task")
    saver.copy_thread("src", "dst")
    saver.copy_thread("src", "dst")  # again: nothing duplicated, nothing fails
    copied = saver.get_tuple(config("dst"))
    assert copied is not None and copied.checkpoint["channel_values"] == {"a": 1}
    assert copied.pending_writes == [("task", "a", 2)]
    assert count(saver, checkpoints) == 2


# --- versions, setup, errors --------------------------------------------------------------


def test_next_version_increases(saver: SQLCheckpointer) -> None:
    first = saver.get_next_version(None)
    second = saver.get_next_version(first)
    assert first < second and second.startswith("0" * 31 + "2.")
    assert saver.get_next_version(7).startswith("0" * 31 + "8.")  # type: ignore[arg-type]


def test_without_auto_setup_an_old_schema_is_refused(shared_db_url: str) -> None:
    with SQLCheckpointer(shared_db_url, auto_setup=False) as saver:
        with pytest.raises(SchemaTooOldError, match="thinkgraph db upgrade"):
            saver.get_tuple(config("t"))
        saver.setup()
    with SQLCheckpointer(shared_db_url, auto_setup=False) as saver:
        assert saver.get_tuple(config("t")) is None


async def test_without_auto_setup_async(shared_db_url: str) -> None:
    async with SQLCheckpointer(shared_db_url, auto_setup=False) as saver:
        with pytest.raises(SchemaTooOldError):
            await saver.aget_tuple(config("t"))
        await saver.asetup()
        assert await saver.aget_tuple(config("t")) is None


def test_database_errors_become_persistence_errors(saver: SQLCheckpointer) -> None:
    with saver.engines.write() as conn:
        conn.execute(text("DROP TABLE tg_checkpoint_writes"))
    cfg = saver.put(config("t"), checkpoint({}, {}), {}, {})
    with pytest.raises(SchemaTooOldError, match="tg_checkpoint_writes"):
        saver.put_writes(cfg, [("a", 1)], "task")
    with saver.engines.write() as conn:
        conn.execute(text("DROP TABLE tg_checkpoints"))
        conn.execute(text("CREATE TABLE tg_checkpoints (x INTEGER)"))
    with pytest.raises(PersistenceError):
        saver.get_tuple(config("t"))


async def test_async_database_errors_become_persistence_errors(asaver: SQLCheckpointer) -> None:
    async with asaver.engines.awrite() as conn:
        await conn.execute(text("DROP TABLE tg_checkpoint_blobs"))
    with pytest.raises(SchemaTooOldError):
        await asaver.aput(config("t"), checkpoint({"a": [1]}, {"a": "1"}), {}, {"a": "1"})


def test_default_database_comes_from_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("THINKGRAPH_DATABASE_URL", f"sqlite:///{tmp_path / 'settings.db'}")
    with SQLCheckpointer() as saver:
        saver.put(config("t"), checkpoint({}, {}), {}, {})
    assert (tmp_path / "settings.db").exists()


# --- in a graph ---------------------------------------------------------------------------


class State(TypedDict):
    items: list[str]
    count: int


def _graph(saver: SQLCheckpointer) -> Any:
    builder = StateGraph(State)
    for name in ("a", "b", "c"):
        builder.add_node(name, lambda s, n=name: {"items": [*s["items"], n], "count": s["count"] + 1})
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("b", "c")
    builder.add_edge("c", END)
    return builder.compile(checkpointer=saver)


async def test_graph_runs_sync_and_async_with_history(asaver: SQLCheckpointer) -> None:
    graph = _graph(asaver)
    thread = str(uuid.uuid4())
    cfg: RunnableConfig = {"configurable": {"thread_id": thread}}
    assert graph.invoke({"items": [], "count": 0}, cfg) == {"items": ["a", "b", "c"], "count": 3}
    assert await graph.ainvoke({"items": ["z"], "count": 0}, cfg) == {
        "items": ["z", "a", "b", "c"],
        "count": 3,
    }
    history = [s async for s in graph.aget_state_history(cfg)]
    assert len(history) == 10 and history[0].values["count"] == 3
    assert [s.values for s in graph.get_state_history(cfg)] == [s.values for s in history]


def _terminate_other_connections(url: str) -> int:
    """Kill every other session on the database of ``url`` (as a server restart would)."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0]) if row else 0


async def test_writes_survive_lost_postgres_connections(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write pools have no pre-ping: a write on a dead connection is retried on a new one."""
    from thinkgraph.memory import Engines

    lost: list[BaseException] = []
    is_disconnect = Engines.is_disconnect

    def spy(self: Engines, exc: BaseException) -> bool:
        lost.append(exc)
        return is_disconnect(self, exc)

    monkeypatch.setattr(Engines, "is_disconnect", spy)
    async with SQLCheckpointer(postgres_url) as saver:
        await saver.asetup()
        first = checkpoint({"a": 1}, {"a": "1"})
        saver.put(config("t"), first, {}, {"a": "1"})
        await saver.aput(config("t"), checkpoint({"a": 1}, {"a": "1"}), {}, {"a": "1"})
        assert _terminate_other_connections(postgres_url) >= 2
        second = checkpoint({"a": 2}, {"a": "2"})
        saver.put(config("t", checkpoint_id=first["id"]), second, {}, {"a": "2"})
        saver.put_writes(config("t", checkpoint_id=second["id"]), [("a", 3)], "task-1")
        assert _terminate_other_connections(postgres_url) >= 1
        third = checkpoint({"a": 3}, {"a": "3"})
        await saver.aput(config("t", checkpoint_id=second["id"]), third, {}, {"a": "3"})
        await saver.aput_writes(config("t", checkpoint_id=third["id"]), [("a", 4)], "task-2")
        assert len(lost) == 2  # one sync and one async write met a dead connection and retried
        latest = await saver.aget_tuple(config("t"))
        assert latest is not None
        assert latest.checkpoint["id"] == third["id"]
        assert latest.checkpoint["channel_values"] == {"a": 3}
        assert [(w[1], w[2]) for w in latest.pending_writes or []] == [("a", 4)]
        with_writes = saver.get_tuple(config("t", checkpoint_id=second["id"]))
        assert with_writes is not None
        assert [(w[1], w[2]) for w in with_writes.pending_writes or []] == [("a", 3)]


def test_driver_errors_in_fast_writes_name_the_operation(db_url: str) -> None:
    with SQLCheckpointer(db_url) as saver:
        saver.setup()
        with saver.engines.write() as conn:
            conn.execute(checkpoints.delete())
            conn.execute(text(f"DROP TABLE {checkpoints.name}"))
        with pytest.raises(SchemaTooOldError, match="put on .* failed"):
            saver.put(config("t"), checkpoint({"a": 1}, {"a": "1"}), {}, {"a": "1"})


async def test_reads_survive_lost_postgres_connections(postgres_url: str) -> None:
    """Reads use the same pools without pre-ping: a read on a dead connection is retried."""
    async with SQLCheckpointer(postgres_url) as saver:
        await saver.asetup()
        first = checkpoint({"a": 1}, {"a": "1"})
        saver.put(config("t"), first, {}, {"a": "1"})
        assert saver.get_tuple(config("t")) is not None
        assert await saver.aget_tuple(config("t")) is not None
        assert _terminate_other_connections(postgres_url) >= 2
        latest = saver.get_tuple(config("t"))
        assert latest is not None and latest.checkpoint["id"] == first["id"]
        assert _terminate_other_connections(postgres_url) >= 1
        listed = [t.checkpoint["id"] async for t in saver.alist(config("t"))]
        assert listed == [first["id"]]
