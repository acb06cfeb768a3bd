"""Statements compiled once to the driver's SQL: parameters, processors and records."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.dialects import sqlite

from thinkgraph.memory._rawsql import RawCompiler
from thinkgraph.memory._schema import checkpoints


def test_queries_bind_by_name_and_return_records() -> None:
    c = checkpoints.c
    query = select(c.thread_id, c.metadata).where(c.thread_id == bindparam("t")).limit(bindparam("n"))
    compiler = RawCompiler(sqlite.dialect(paramstyle="qmark"))
    raw = compiler.compile(query, ("t", "n"))
    assert compiler.compile(query, ("t", "n")) is raw  # compiled once per shape
    assert raw.sql.count("?") == 3  # thread, limit, and SQLite's OFFSET (the statement's own 0)
    assert raw.args({"t": "thread-1", "n": 5}) == ("thread-1", 5, 0)
    record = raw.record(("thread-1", json.dumps({"step": 2})))
    thread, metadata = record  # a tuple...
    assert (
        (thread, metadata) == ("thread-1", {"step": 2}) == (record.thread_id, record.metadata)
    )  # ...and attributes
    with pytest.raises(AttributeError, match="nope"):
        _ = record.nope


def test_a_row_without_a_value_for_a_parameter_is_refused_by_name() -> None:
    insert = checkpoints.insert()
    keys = ("thread_id", "ns_hash", "checkpoint_id", "run_id")
    raw = RawCompiler(sqlite.dialect(paramstyle="qmark")).compile(insert, keys)
    full = {"thread_id": "t", "ns_hash": "h", "checkpoint_id": "c", "run_id": "r"}
    assert raw.many([full]) == [("t", "h", "c", "r")]
    with pytest.raises(ValueError, match="'run_id' of INSERT"):
        raw.many([full, {"thread_id": "t", "ns_hash": "h", "checkpoint_id": "c"}])
