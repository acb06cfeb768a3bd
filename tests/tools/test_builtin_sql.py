"""The read-only SQL tool on every dialect: one SELECT/WITH only, read-only connection, limits."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text

from thinkgraph.exceptions import ConfigError, ToolAccessDenied, ToolError
from thinkgraph.tools import ReadOnlySQL, ToolExecutor, check_read_only_sql, sql_query_tool
from thinkgraph.tools import _sql as sql_module

HOSTILE = [
    "DROP TABLE items",
    "drop table items",
    "UPDATE items SET name = 'x'",
    "INSERT INTO items VALUES (9, 'z')",
    "DELETE FROM items",
    "SELECT 1; DROP TABLE items",
    "SELECT 1;DROP TABLE items;",
    "SELECT 1; SELECT 2",
    "WITH gone AS (DELETE FROM items RETURNING *) SELECT * FROM gone",
    "ATTACH DATABASE '/tmp/evil.db' AS evil",
    "SELECT 1 /* ; DROP TABLE items */",
    "SELECT 1 -- ; DROP TABLE items",
    "SELECT 1 # comment",
    "/*!50000 DROP TABLE items */ SELECT 1",
    "PRAGMA writable_schema = 1",
    "SELECT * INTO newtable FROM items",
    "SELECT * FROM items INTO OUTFILE '/tmp/x'",
    "SELECT load_extension('evil')",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT \"pg_read_file\"('/etc/passwd')",
    "SELECT 'a\\' ; DROP TABLE items; -- '",
    "SELECT $$; DROP TABLE items; $$",
    "SET TRANSACTION READ WRITE",
    "COPY items TO '/tmp/x'",
    "CREATE TABLE t (x int)",
    "  ",
    "SELECT 'unterminated",
    "SELECT * FROM items FOR UPDATE; LOCK TABLE items",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_lexical_check_refuses(query: str) -> None:
    with pytest.raises(ToolAccessDenied):
        check_read_only_sql(query)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT 1",
        "select name from items where name = 'drop table; --'",
        'SELECT "name" FROM items',
        "WITH x AS (SELECT 1 AS a) SELECT a FROM x;",
        "VALUES (1)",
    ],
)
def test_lexical_check_accepts_reads(query: str) -> None:
    assert check_read_only_sql(query) == query.strip().rstrip(";")


def test_lexical_check_limits() -> None:
    with pytest.raises(ToolAccessDenied, match="longer than"):
        check_read_only_sql("SELECT " + "1," * 20_000 + "1")
    with pytest.raises(ToolAccessDenied, match="NUL"):
        check_read_only_sql("SELECT 1\x00")


def _writable(url: str) -> str:
    return str(sql_module._normalize_url(url).render_as_string(hide_password=False))


@pytest.fixture
def items_url(db_url: str) -> str:
    if db_url != "sqlite:///:memory:":
        engine = create_engine(_writable(db_url))
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(50))"))
            conn.execute(
                text("INSERT INTO items VALUES " + ", ".join(f"({i}, 'item{i}')" for i in range(30)))
            )
        engine.dispose()
    return db_url


def test_queries_and_row_limit(items_url: str) -> None:
    db = ReadOnlySQL(items_url, max_rows=5, timeout_s=5)
    try:
        assert db.query("SELECT 1 AS one") == {"columns": ["one"], "rows": [[1]], "truncated": False}
        if items_url == "sqlite:///:memory:":
            return
        result = db.query("SELECT id, name FROM items ORDER BY id")
        assert result["columns"] == ["id", "name"]
        assert result["rows"] == [[i, f"item{i}"] for i in range(5)] and result["truncated"] is True
        with pytest.raises(ToolError, match="the database rejected the query"):
            db.query("SELECT nope FROM items")
    finally:
        db.close()


def test_database_itself_refuses_writes(items_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even with the lexical check bypassed, the connection is read-only."""
    monkeypatch.setattr(sql_module, "check_read_only_sql", lambda sql: sql)
    db = ReadOnlySQL(items_url)
    try:
        for statement in ["DELETE FROM items", "CREATE TABLE evil (x INTEGER)"]:
            with pytest.raises(ToolError):
                db.query(statement)
    finally:
        db.close()
    if items_url != "sqlite:///:memory:":
        engine = create_engine(_writable(items_url))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM items")).scalar() == 30
        engine.dispose()


SLOW = {
    "sqlite": "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1000000000) "
    "SELECT count(*) FROM c",
    "postgresql": "SELECT count(*) FROM generate_series(1, 2000000000)",
    "mysql": "SELECT count(*) FROM information_schema.columns a, information_schema.columns b, "
    "information_schema.columns c",
}


def test_statement_time_limit(items_url: str) -> None:
    db = ReadOnlySQL(items_url, timeout_s=0.5)
    try:
        with pytest.raises(ToolError, match="ran longer than 0.5 s"):
            db.query(SLOW[db.dialect])
    finally:
        db.close()


async def test_tool_through_executor(items_url: str) -> None:
    sql_tool = sql_query_tool(items_url, max_rows=3)
    executor = ToolExecutor([sql_tool])
    ok = await executor.ainvoke_call({"name": "sql_query", "args": {"query": "SELECT 2 AS two"}, "id": "1"})
    assert json.loads(str(ok.content)) == {"columns": ["two"], "rows": [[2]], "truncated": False}
    bad = await executor.ainvoke_call({"name": "sql_query", "args": {"query": "DROP TABLE items"}, "id": "2"})
    assert bad.status == "error" and "ToolAccessDenied" in str(bad.content)


def test_configuration() -> None:
    with pytest.raises(ConfigError):
        ReadOnlySQL("sqlite://", max_rows=0)
    assert ReadOnlySQL("mysql://root@127.0.0.1/x").url.drivername == "mysql+pymysql"
    assert ReadOnlySQL("postgresql://u@h/x").url.drivername == "postgresql+psycopg"
