"""What each checkpointer operation does, as plans of statements (see ``_checkpointer_sql``).

A plan never touches a connection: it yields statements and receives rows, so the sync and
async methods of :class:`~thinkgraph.memory.SQLCheckpointer` share every line of logic.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
    PendingWrite,
    get_serializable_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from sqlalchemy import (
    Executable,
    Row,
    String,
    and_,
    bindparam,
    delete,
    func,
    literal,
    select,
    tuple_,
    update,
)

from thinkgraph.memory._checkpointer_sql import (
    CHECKPOINT_COLUMNS,
    PageShape,
    Plan,
    Step,
    blob_rows_query,
    checkpoints_query,
    chunks,
    insert_ignore,
    keyed_queries,
    matches,
    metadata_filter,
    upsert,
    writes_query,
)
from thinkgraph.memory._engine import Dialect
from thinkgraph.memory._schema import checkpoint_blobs, checkpoint_writes, checkpoints, ns_hash

__all__ = ["CheckpointPlans", "ListCursor"]

_MISSING = object()


def _tuples(rows: Sequence[Row[Any]]) -> Iterator[tuple[Any, ...]]:
    return (row if isinstance(row, tuple) else tuple(row) for row in rows)


Key = tuple[str, str, str]  # (thread_id, ns_hash, checkpoint_id)
BlobKey = tuple[str, str, str, str]  # (thread_id, ns_hash, channel, version)
ListCursor = tuple[str, str, str]  # (checkpoint_id, thread_id, ns_hash) of the last row of a page


def _chain_query() -> Executable:
    """A checkpoint (``d_checkpoint_id``) and its ancestors, nearest first, ``d_depth`` at most."""
    c = checkpoints.c
    chain = (
        select(c.thread_id, c.ns_hash, c.checkpoint_id, c.parent_checkpoint_id, literal(1).label("depth"))
        .where(
            c.thread_id == bindparam("d_thread_id"),
            c.ns_hash == bindparam("d_ns_hash"),
            c.checkpoint_id == bindparam("d_checkpoint_id"),
        )
        .cte("chain", recursive=True)
    )
    up = checkpoints.alias("up")
    chain = chain.union_all(
        select(
            up.c.thread_id, up.c.ns_hash, up.c.checkpoint_id, up.c.parent_checkpoint_id, chain.c.depth + 1
        ).where(
            up.c.thread_id == chain.c.thread_id,
            up.c.ns_hash == chain.c.ns_hash,
            up.c.checkpoint_id == chain.c.parent_checkpoint_id,
            chain.c.depth < bindparam("d_depth"),
        )
    )
    on_chain = and_(
        c.thread_id == chain.c.thread_id,
        c.ns_hash == chain.c.ns_hash,
        c.checkpoint_id == chain.c.checkpoint_id,
    )
    return select(*CHECKPOINT_COLUMNS).select_from(checkpoints.join(chain, on_chain)).order_by(chain.c.depth)


def _get_query(*, by_id: bool) -> Executable:
    """``get_tuple``'s query (the thread's latest checkpoint, or the one named), with bound values."""
    c = checkpoints.c
    where = [c.thread_id == bindparam("g_thread_id"), c.ns_hash == bindparam("g_ns_hash")]
    if by_id:
        where.append(c.checkpoint_id == bindparam("g_checkpoint_id"))
    return select(*CHECKPOINT_COLUMNS).where(*where).order_by(c.checkpoint_id.desc()).limit(1)


# Channel values stored in the checkpoint row itself rather than as blobs (as the official
# PostgreSQL saver does): a few bytes each, and one row fewer per changed channel per step.
_INLINE_TYPES = (type(None), bool, int, float, str)
_INLINE_MAX_CHARS = 256


def _inlined(value: Any) -> bool:
    """Whether a channel value is a small scalar kept in the checkpoint row (exact types only,
    so an enum or another subclass keeps its type through the serializer)."""
    kind = type(value)
    if kind not in _INLINE_TYPES:
        return False
    if kind is int:
        return bool(-(2**63) <= value < 2**63)
    return kind is not str or len(value) <= _INLINE_MAX_CHARS


def _blob_versions(body: Mapping[str, Any]) -> dict[str, str]:
    """The (channel, version) of a decoded checkpoint's values that are stored as blobs."""
    inline = body["channel_values"]
    return {channel: str(v) for channel, v in body["channel_versions"].items() if channel not in inline}


def _delta_ancestors(kept: Sequence[Row[Any]], older: Sequence[Row[Any]]) -> set[Key]:
    """The older checkpoints that kept ones need to rebuild their delta channels: for a kept
    checkpoint whose metadata counts ``n`` supersteps since a delta channel's last snapshot, its
    ``n`` nearest ancestors (LangGraph walks them back to the snapshot, collecting their writes)."""
    parents = {
        (row.thread_id, row.ns_hash, row.checkpoint_id): row.parent_checkpoint_id for row in (*kept, *older)
    }
    needed: set[Key] = set()
    for row in kept:
        counters = (row.metadata or {}).get("counters_since_delta_snapshot") or {}
        steps = max(
            (int(pair[1]) for pair in counters.values() if isinstance(pair, list | tuple) and len(pair) == 2),
            default=0,
        )
        parent = row.parent_checkpoint_id
        while steps > 0 and parent is not None:
            key = (row.thread_id, row.ns_hash, parent)
            needed.add(key)
            parent, steps = parents.get(key), steps - 1
    return needed


class CheckpointPlans:
    """Builds the plans of one checkpointer (its serializer and dialect)."""

    def __init__(self, serde: SerializerProtocol, dialect: Dialect) -> None:
        self.serde = serde
        self.dialect = dialect
        # the write statements are built once: SQLAlchemy then reuses their compiled form
        self._insert_blobs = insert_ignore(dialect, checkpoint_blobs)
        self._upsert_checkpoint = upsert(dialect, checkpoints, ["type", "checkpoint", "metadata", "run_id"])
        self._upsert_writes = upsert(dialect, checkpoint_writes, ["channel", "type", "blob", "task_path"])
        self._insert_writes = insert_ignore(dialect, checkpoint_writes)
        self._get_latest = _get_query(by_id=False)
        self._get_by_id = _get_query(by_id=True)
        self._chain = _chain_query()
        self._keyed = keyed_queries(dialect)
        self._pages: dict[PageShape, Executable] = {}  # the statements of pages without a filter

    # --- writes ---------------------------------------------------------------------------

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> Plan[RunnableConfig]:
        """Store the checkpoint; only channels in ``new_versions`` get a (new) blob row."""
        conf = config["configurable"]
        thread_id = str(conf["thread_id"])
        ns = str(conf.get("checkpoint_ns", ""))
        parent_id = conf.get("checkpoint_id")
        key = ns_hash(ns)
        values = checkpoint["channel_values"]
        inline = {channel: value for channel, value in values.items() if _inlined(value)}
        blobs = []
        for channel, version in new_versions.items():
            if channel not in values or channel in inline:
                continue  # an empty channel has no row; a small scalar travels in the checkpoint row
            type_, blob = self.serde.dumps_typed(values[channel])
            blobs.append(
                {
                    "thread_id": thread_id,
                    "ns_hash": key,
                    "channel": channel,
                    "version": str(version),
                    "type": type_,
                    "blob": blob,
                }
            )
        body: dict[str, Any] = {k: v for k, v in checkpoint.items() if k != "channel_values"}
        if inline:
            body["channel_values"] = inline
        type_, data = self.serde.dumps_typed(body)
        meta = dict(get_serializable_checkpoint_metadata(config, metadata))
        run_id = meta.get("run_id")
        row = {
            "thread_id": thread_id,
            "ns_hash": key,
            "checkpoint_id": checkpoint["id"],
            "checkpoint_ns": ns,
            "parent_checkpoint_id": parent_id,
            "type": type_,
            "checkpoint": data,
            "metadata": meta,
            "run_id": None if run_id is None else str(run_id),
            "created_at": datetime.now(UTC),
        }
        # the blobs first: a checkpoint row is never seen without them (PostgreSQL sends both
        # statements in one pipeline, see SQLCheckpointer._put)
        if blobs:
            yield Step(self._insert_blobs, blobs)
        yield Step(self._upsert_checkpoint, row)
        return {
            "configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint["id"]}
        }

    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str
    ) -> Plan[None]:
        """Store a task's writes: special channels overwrite, others are written once."""
        if not writes:
            return
        conf = config["configurable"]
        base = {
            "thread_id": str(conf["thread_id"]),
            "ns_hash": ns_hash(str(conf.get("checkpoint_ns", ""))),
            "checkpoint_id": str(conf["checkpoint_id"]),
            "task_id": task_id,
            "task_path": task_path,
        }
        rows = []
        for idx, (channel, value) in enumerate(writes):
            type_, blob = self.serde.dumps_typed(value)
            rows.append(
                {
                    **base,
                    "idx": WRITES_IDX_MAP.get(channel, idx),
                    "channel": channel,
                    "type": type_,
                    "blob": blob,
                }
            )
        if all(channel in WRITES_IDX_MAP for channel, _ in writes):
            statement = self._upsert_writes
        else:
            statement = self._insert_writes
        yield Step(statement, rows)

    # --- reads ----------------------------------------------------------------------------

    def _target(self, config: RunnableConfig) -> Plan[list[Row[Any]]]:
        """The checkpoint row named by ``config`` (or the thread's latest), if any."""
        conf = config["configurable"]
        checkpoint_id = conf.get("checkpoint_id")
        ns = str(conf.get("checkpoint_ns", ""))
        params = {"g_thread_id": str(conf["thread_id"]), "g_ns_hash": ns_hash(ns)}
        if checkpoint_id:
            params["g_checkpoint_id"] = str(checkpoint_id)
        rows = yield Step(self._get_by_id if checkpoint_id else self._get_latest, params, fetch=True)
        return rows

    def get_tuple(self, config: RunnableConfig) -> Plan[CheckpointTuple | None]:
        """The checkpoint named by ``config`` (or the thread's latest), in three statements."""
        rows = yield from self._target(config)
        if not rows:
            return None
        tuples = yield from self.hydrate(rows)
        return tuples[0]

    def delta_history(
        self, config: RunnableConfig, channels: Sequence[str], page: int
    ) -> Plan[dict[str, DeltaChannelHistory]]:
        """``get_delta_channel_history``: LangGraph's walk up the parent chain, on ancestors read
        ``page`` at a time (a recursive query, then their blobs and writes): three statements per
        page instead of three per ancestor."""
        writes: dict[str, list[PendingWrite]] = {channel: [] for channel in channels}
        seeds: dict[str, Any] = {}
        remaining = set(channels)
        target = (yield from self._target(config)) if channels else []
        parent = target[0].parent_checkpoint_id if target else None
        while parent is not None and remaining:
            params = {
                "d_thread_id": target[0].thread_id,
                "d_ns_hash": target[0].ns_hash,
                "d_checkpoint_id": parent,
                "d_depth": page,
            }
            rows = yield Step(self._chain, params, fetch=True)
            for tup in (yield from self.hydrate(rows)):
                for write in reversed(tup.pending_writes or []):
                    if write[1] in remaining:
                        writes[write[1]].append(write)
                for channel in [ch for ch in remaining if ch in tup.checkpoint["channel_values"]]:
                    seeds[channel] = tup.checkpoint["channel_values"][channel]
                    remaining.discard(channel)
                if not remaining:
                    break
            parent = rows[-1].parent_checkpoint_id if len(rows) == page else None
        history: dict[str, DeltaChannelHistory] = {}
        for channel in channels:
            history[channel] = {"writes": writes[channel][::-1]}
            if channel in seeds:
                history[channel]["seed"] = seeds[channel]
        return history

    def list_page(
        self,
        config: RunnableConfig | None,
        *,
        filter: Mapping[str, Any] | None,
        before: RunnableConfig | None,
        after: ListCursor | None,
        limit: int,
    ) -> Plan[tuple[list[CheckpointTuple], ListCursor | None]]:
        """One page of ``list``: at most ``limit`` rows read, hydrated in two more statements.

        Returns the tuples and the cursor of the next page (``None`` when this was the last).
        """
        conf = config["configurable"] if config else {}
        predicates, residual = metadata_filter(self.dialect, filter or {})
        thread_id = conf.get("thread_id")
        ns = conf.get("checkpoint_ns")
        checkpoint_id = conf.get("checkpoint_id")
        before_id = before["configurable"].get("checkpoint_id") if before else None
        shape = PageShape(
            thread=thread_id is not None,
            ns=ns is not None,
            checkpoint_id=checkpoint_id is not None,
            before=before_id is not None,
            after=after is not None,
        )
        if predicates:
            query = checkpoints_query(shape, predicates)
        else:
            if shape not in self._pages:
                self._pages[shape] = checkpoints_query(shape)
            query = self._pages[shape]
        params: dict[str, Any] = {"l_limit": limit + 1}  # one more row says whether there is another page
        if thread_id is not None:
            params["l_thread_id"] = str(thread_id)
        if ns is not None:
            params["l_ns_hash"] = ns_hash(str(ns))
        if checkpoint_id is not None:
            params["l_checkpoint_id"] = str(checkpoint_id)
        if before_id is not None:
            params["l_before"] = str(before_id)
        if after is not None:  # the order's columns of the previous page's last row
            params["l_after_checkpoint_id"], after_thread, after_ns = after
            if not shape.thread:
                params["l_after_thread_id"] = after_thread
            if not shape.ns:
                params["l_after_ns_hash"] = after_ns
        rows = yield Step(query, params, fetch=True)
        cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            cursor = (rows[-1].checkpoint_id, rows[-1].thread_id, rows[-1].ns_hash)
        if residual and filter:
            rows = [row for row in rows if matches(row.metadata, filter)]
        tuples = yield from self.hydrate(rows)
        return tuples, cursor

    def hydrate(self, rows: Sequence[Row[Any]]) -> Plan[list[CheckpointTuple]]:
        """Checkpoint tuples for ``rows``: their blobs and writes in one batched statement each."""
        if not rows:
            return []
        loads = self.serde.loads_typed
        decoded = []
        blob_keys: set[BlobKey] = set()
        wanted: set[Key] = set()
        for thread_id, key, ns, checkpoint_id, parent_id, type_, data, metadata in _tuples(rows):
            body = cast(dict[str, Any], loads((type_, data)))
            body.setdefault("channel_values", {})  # the inline values (none in rows written before 0003)
            blob_keys.update((thread_id, key, channel, v) for channel, v in _blob_versions(body).items())
            wanted.add((thread_id, key, checkpoint_id))
            decoded.append((thread_id, key, ns, checkpoint_id, parent_id, metadata, body))
        blobs: dict[BlobKey, Any] = {}
        writes: dict[Key, list[tuple[str, str, Any]]] = defaultdict(list)
        blob_rows, write_rows = yield from self._hydrate_rows(blob_keys, wanted)
        for thread_id, key, channel, version, type_, blob in blob_rows:
            if type_ != "empty":
                blobs[(thread_id, key, channel, version)] = loads((type_, blob))
        for thread_id, key, checkpoint_id, task_id, channel, type_, blob in write_rows:
            if (thread_id, key, checkpoint_id) in wanted:
                writes[(thread_id, key, checkpoint_id)].append((task_id, channel, loads((type_, blob))))
        result = []
        for thread_id, key, ns, checkpoint_id, parent_id, metadata, body in decoded:
            inline = body["channel_values"]
            values = {}
            for channel, version in body["channel_versions"].items():
                if channel in inline:
                    values[channel] = inline[channel]
                    continue
                value = blobs.get((thread_id, key, channel, str(version)), _MISSING)
                if value is not _MISSING:
                    values[channel] = value
            body["channel_values"] = values
            parent = (
                {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": parent_id}}
                if parent_id
                else None
            )
            result.append(
                CheckpointTuple(
                    config={
                        "configurable": {
                            "thread_id": thread_id,
                            "checkpoint_ns": ns,
                            "checkpoint_id": checkpoint_id,
                        }
                    },
                    checkpoint=cast(Checkpoint, body),
                    metadata=cast(CheckpointMetadata, metadata),
                    parent_config=cast(RunnableConfig | None, parent),
                    pending_writes=writes.get((thread_id, key, checkpoint_id), []),
                )
            )
        return result

    def _hydrate_rows(
        self, blob_keys: set[BlobKey], checkpoint_keys: set[Key]
    ) -> Plan[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
        """The rows of these blobs and the write rows of these checkpoints (in application order)."""
        if self._keyed is not None:
            blobs_query, writes_query_ = self._keyed
            blob_rows = yield Step(blobs_query, {"k_blobs": json.dumps(sorted(blob_keys))}, fetch=True)
            write_rows = yield Step(
                writes_query_, {"k_checkpoints": json.dumps(sorted(checkpoint_keys))}, fetch=True
            )
            return list(_tuples(blob_rows)), list(_tuples(write_rows))
        # MySQL/MariaDB: the blobs of these (thread, namespace) groups with one of these versions
        groups = sorted({(thread_id, key) for thread_id, key, _ in checkpoint_keys})
        versions = sorted({version for *_, version in blob_keys})
        ids = sorted({checkpoint_id for *_, checkpoint_id in checkpoint_keys})
        blob_rows, write_rows = [], []
        for version_chunk in chunks(versions, 1, reserved=2 * len(groups)):
            blob_rows += yield Step(blob_rows_query(groups, version_chunk), fetch=True)
        for id_chunk in chunks(ids, 1, reserved=2 * len(groups)):
            write_rows += yield Step(writes_query(groups, id_chunk), fetch=True)
        return list(_tuples(blob_rows)), list(_tuples(write_rows))

    # --- deletes and copies ---------------------------------------------------------------

    def delete_threads(self, thread_ids: Sequence[str]) -> Plan[None]:
        """Delete every checkpoint, blob and write of these threads."""
        ids = [str(t) for t in thread_ids]
        for chunk in chunks(ids, 1):
            for table in (checkpoint_writes, checkpoint_blobs, checkpoints):
                yield Step(delete(table).where(table.c.thread_id.in_(chunk)))

    def delete_for_runs(self, run_ids: Sequence[str]) -> Plan[int]:
        """Delete the checkpoints (and their writes, and blobs no longer used) of these runs."""
        c = checkpoints.c
        doomed: list[Row[Any]] = []
        for chunk in chunks([str(r) for r in run_ids], 1):
            query = select(c.thread_id, c.ns_hash, c.checkpoint_id, c.type, c.checkpoint).where(
                c.run_id.in_(chunk)
            )
            doomed.extend((yield Step(query, fetch=True)))
        yield from self.delete_checkpoints(doomed)
        return len(doomed)

    def prune(self, thread_ids: Sequence[str] | None, keep_last: int) -> Plan[int]:
        """Keep the ``keep_last`` newest checkpoints of each namespace of these threads (all if None).

        ``DeltaChannel``-aware: a kept checkpoint whose metadata counts supersteps since a delta
        channel's last snapshot (``counters_since_delta_snapshot``) keeps that many ancestors
        too, with their writes, so LangGraph can still rebuild the channel from its snapshot.
        """
        c = checkpoints.c
        rank = (
            func.row_number()
            .over(partition_by=(c.thread_id, c.ns_hash), order_by=c.checkpoint_id.desc())
            .label("rank")
        )
        ranked = select(
            c.thread_id,
            c.ns_hash,
            c.checkpoint_id,
            c.parent_checkpoint_id,
            c.metadata,
            c.type,
            c.checkpoint,
            rank,
        )
        doomed: list[Row[Any]] = []
        id_chunks = [None] if thread_ids is None else list(chunks([str(t) for t in thread_ids], 1))
        for chunk in id_chunks:
            inner = (ranked if chunk is None else ranked.where(c.thread_id.in_(chunk))).subquery()
            kept = yield Step(
                select(
                    inner.c.thread_id,
                    inner.c.ns_hash,
                    inner.c.checkpoint_id,
                    inner.c.parent_checkpoint_id,
                    inner.c.metadata,
                ).where(inner.c.rank <= keep_last),
                fetch=True,
            )
            older = yield Step(
                select(
                    inner.c.thread_id,
                    inner.c.ns_hash,
                    inner.c.checkpoint_id,
                    inner.c.parent_checkpoint_id,
                    inner.c.type,
                    inner.c.checkpoint,
                ).where(inner.c.rank > keep_last),
                fetch=True,
            )
            needed = _delta_ancestors(kept, older)
            doomed.extend(
                row for row in older if (row.thread_id, row.ns_hash, row.checkpoint_id) not in needed
            )
        yield from self.delete_checkpoints(doomed)
        return len(doomed)

    def delete_checkpoints(self, doomed: Sequence[Row[Any]]) -> Plan[None]:
        """Delete these checkpoint rows, their writes, and the blobs only they used."""
        if not doomed:
            return
        keys = [(row.thread_id, row.ns_hash, row.checkpoint_id) for row in doomed]
        w, c, b = checkpoint_writes.c, checkpoints.c, checkpoint_blobs.c
        for chunk in chunks(keys, 3):
            yield Step(
                delete(checkpoint_writes).where(tuple_(w.thread_id, w.ns_hash, w.checkpoint_id).in_(chunk))
            )
            yield Step(delete(checkpoints).where(tuple_(c.thread_id, c.ns_hash, c.checkpoint_id).in_(chunk)))
            # survivors must not point at a deleted parent
            yield Step(
                update(checkpoints)
                .where(tuple_(c.thread_id, c.ns_hash, c.parent_checkpoint_id).in_(chunk))
                .values(parent_checkpoint_id=None)
            )
        freed = {
            (row.thread_id, row.ns_hash, channel, str(version))
            for row in doomed
            for channel, version in self._versions(row).items()
        }
        groups = sorted({(row.thread_id, row.ns_hash) for row in doomed})
        for group_chunk in chunks(groups, 2):
            kept = select(c.thread_id, c.ns_hash, c.type, c.checkpoint).where(
                tuple_(c.thread_id, c.ns_hash).in_(group_chunk)
            )
            for row in (yield Step(kept, fetch=True)):
                for channel, version in self._versions(row).items():
                    freed.discard((row.thread_id, row.ns_hash, channel, str(version)))
        for blob_chunk in chunks(sorted(freed), 4):
            yield Step(
                delete(checkpoint_blobs).where(
                    tuple_(b.thread_id, b.ns_hash, b.channel, b.version).in_(blob_chunk)
                )
            )

    def _versions(self, row: Row[Any]) -> dict[str, Any]:
        body = self.serde.loads_typed((row.type, row.checkpoint))
        return cast(dict[str, Any], body.get("channel_versions", {}))

    def copy_thread(self, source: str, target: str) -> Plan[None]:
        """Copy every checkpoint, blob and write of ``source`` to ``target`` (existing rows kept)."""
        for table in (checkpoint_blobs, checkpoints, checkpoint_writes):
            names = [col.name for col in table.columns]
            columns = [
                literal(str(target), String()).label("thread_id") if name == "thread_id" else table.c[name]
                for name in names
            ]
            source_rows = select(*columns).where(table.c.thread_id == str(source))
            yield Step(insert_ignore(self.dialect, table).from_select(names, source_rows))  # type: ignore[attr-defined]
