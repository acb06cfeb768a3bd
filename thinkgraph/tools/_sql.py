"""A read-only SQL query tool over a SQLAlchemy URL.

Two layers of defence: the statement is checked lexically (one ``SELECT``/``WITH`` statement, no
comments, no writing or file-touching keyword outside string literals), and it runs on a
connection the database itself keeps read-only (SQLite: ``mode=ro`` URI, ``query_only`` and an
authorizer; PostgreSQL: ``SET TRANSACTION READ ONLY``; MySQL/MariaDB: ``START TRANSACTION READ
ONLY``), with a row limit and a statement time limit.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from typing import Any

from langchain_core.tools import BaseTool
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool, StaticPool

from thinkgraph.exceptions import ConfigError, ToolAccessDenied, ToolError
from thinkgraph.tools._decorator import tool

__all__ = ["ReadOnlySQL", "check_read_only_sql", "sql_query_tool"]

_FORBIDDEN = {
    # writes and schema changes
    "insert", "update", "delete", "merge", "upsert", "replace", "drop", "create", "alter", "truncate",
    "rename", "grant", "revoke", "comment", "vacuum", "reindex", "analyze", "cluster", "refresh",
    # sessions, transactions, engines
    "attach", "detach", "pragma", "set", "reset", "begin", "commit", "rollback", "savepoint", "release",
    "lock", "unlock", "call", "exec", "execute", "do", "prepare", "deallocate", "handler", "use",
    "listen", "notify", "load", "import", "copy", "into", "outfile", "dumpfile", "install", "shutdown",
    "kill", "flush", "optimize", "repair", "checkpoint", "discard", "security",
    # functions that touch files, the network or extensions
    "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "load_file", "pg_read_file",
    "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "lo_import", "lo_export", "lo_from_bytea",
    "lo_put", "dblink", "dblink_exec", "pg_sleep", "sleep", "benchmark", "pg_terminate_backend",
    "pg_cancel_backend", "set_config", "nextval", "setval", "txid_current", "sys_exec", "sys_eval",
}  # fmt: skip

_TOKEN = re.compile(
    r"""
    (?P<string>'(?:[^'\\]|'')*'|"(?:[^"\\]|"")*"|`(?:[^`\\]|``)*`|\[[^\]\\]*\])
  | (?P<comment>--|/\*|\*/|\#)
  | (?P<dollar>\$[A-Za-z_0-9]*\$)
  | (?P<word>[A-Za-z_][A-Za-z_0-9$]*)
  | (?P<semicolon>;)
  | (?P<quote>['"`])
  | (?P<backslash>\\)
  | (?P<other>[^\sA-Za-z_'"`;\[\\\#$-]+|-|\$)
  | (?P<space>\s+)
    """,
    re.VERBOSE,
)


def check_read_only_sql(sql: str, *, max_chars: int = 20_000) -> str:
    """Return ``sql`` (stripped of a trailing ``;``) if it is one read-only query, else refuse it.

    Raises:
        ToolAccessDenied: it is not exactly one ``SELECT``/``WITH`` statement, contains a comment,
            or uses a keyword or function that writes, changes the session or touches files.
    """
    if len(sql) > max_chars:
        raise ToolAccessDenied(f"the query is longer than {max_chars} characters")
    if "\x00" in sql:
        raise ToolAccessDenied("the query contains a NUL byte")
    words: list[str] = []
    seen_semicolon = False
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup
        if kind == "space":
            continue
        if seen_semicolon:
            raise ToolAccessDenied("only one statement is allowed: remove everything after the ';'")
        if kind == "comment":
            raise ToolAccessDenied("comments are not allowed in queries: remove them")
        if kind in ("quote", "dollar", "backslash"):
            raise ToolAccessDenied(
                f"unbalanced or unsupported quoting near {sql[match.start() : match.start() + 20]!r}"
            )
        if kind == "semicolon":
            seen_semicolon = True
        elif kind == "word":
            words.append(match.group().lower())
        elif kind == "string" and match.group()[0] in '"`[':
            # a quoted identifier can name a function too: check what it names
            identifier = match.group()[1:-1].lower()
            if identifier in _FORBIDDEN:
                raise ToolAccessDenied(f"the query names {identifier!r}: only reading is allowed")
    if not words or words[0] not in ("select", "with", "values"):
        first = words[0].upper() if words else "nothing"
        raise ToolAccessDenied(f"only SELECT or WITH queries are allowed, not {first}")
    bad = sorted({w for w in words if w in _FORBIDDEN})
    if bad:
        raise ToolAccessDenied(f"the query uses {', '.join(w.upper() for w in bad)}: only reading is allowed")
    return sql.strip().rstrip(";").strip()


def _normalize_url(url: str | URL) -> URL:
    parsed = make_url(url)
    drivers = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql", "mariadb": "mariadb+pymysql"}
    if parsed.drivername in drivers:
        parsed = parsed.set(drivername=drivers[parsed.drivername])
    return parsed


_SQLITE_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE}
_SQLITE_BLOCKED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}


def _sqlite_authorizer(
    action: int, arg1: str | None, arg2: str | None, db: str | None, src: str | None
) -> int:
    if action in _SQLITE_ALLOWED:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() not in _SQLITE_BLOCKED_FUNCTIONS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


class ReadOnlySQL:
    """Runs checked read-only queries against one database.

    Args:
        url: a SQLAlchemy URL (``sqlite:///file.db``, ``postgresql://...``, ``mysql://...``).
        max_rows: the most rows returned (the result says when it was truncated).
        timeout_s: the statement time limit in seconds.
    """

    def __init__(self, url: str | URL, *, max_rows: int = 100, timeout_s: float = 5.0) -> None:
        if max_rows < 1 or not timeout_s > 0:
            raise ConfigError(f"max_rows and timeout_s must be positive, got {max_rows!r}, {timeout_s!r}")
        self.url = _normalize_url(url)
        self.max_rows = max_rows
        self.timeout_s = timeout_s
        self._engine: Engine | None = None

    @property
    def dialect(self) -> str:
        """The SQLAlchemy dialect name (``sqlite``, ``postgresql``, ``mysql``, ``mariadb``)."""
        return self.url.get_backend_name()

    def _make_engine(self) -> Engine:
        if self.dialect == "sqlite":
            database = self.url.database or ""
            if database in ("", ":memory:"):
                engine = create_engine(
                    "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
                )
            else:
                engine = create_engine(
                    f"sqlite:///file:{database}?mode=ro&uri=true",
                    poolclass=NullPool,
                    connect_args={"check_same_thread": False},
                )

            @event.listens_for(engine, "connect")
            def _lock_down(dbapi_connection: Any, _record: Any) -> None:
                dbapi_connection.execute("PRAGMA query_only = ON")
                dbapi_connection.set_authorizer(_sqlite_authorizer)

            return engine
        try:
            return create_engine(self.url, poolclass=NullPool)
        except (ImportError, SQLAlchemyError) as exc:
            raise ConfigError(f"cannot open {self.url.render_as_string()!r}: {exc}") from exc

    @property
    def engine(self) -> Engine:
        """The engine (created on first use)."""
        if self._engine is None:
            self._engine = self._make_engine()
        return self._engine

    def query(self, sql: str) -> dict[str, Any]:
        """Run one checked read-only query; returns ``columns``, ``rows`` and ``truncated``.

        Raises:
            ToolAccessDenied: the query is not read-only.
            ToolError: the database rejected it or it ran past the time limit.
        """
        statement = check_read_only_sql(sql)
        try:
            with self.engine.connect() as conn:
                raw = conn.connection.dbapi_connection
                deadline = time.monotonic() + self.timeout_s
                if self.dialect == "sqlite":
                    raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)  # type: ignore[union-attr]
                elif self.dialect == "postgresql":
                    conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                    conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(self.timeout_s * 1000)}")
                elif self.dialect in ("mysql", "mariadb"):
                    conn.rollback()
                    if getattr(conn.dialect, "is_mariadb", False):
                        conn.exec_driver_sql(f"SET SESSION max_statement_time = {self.timeout_s:g}")
                    else:
                        conn.exec_driver_sql(f"SET SESSION max_execution_time = {int(self.timeout_s * 1000)}")
                    conn.exec_driver_sql("START TRANSACTION READ ONLY")
                try:
                    result = conn.execute(text(statement).execution_options(no_parameters=True))
                    columns = list(result.keys())
                    fetched = result.fetchmany(self.max_rows + 1)
                finally:
                    conn.rollback()
        except SQLAlchemyError as exc:
            original = getattr(exc, "orig", None) or exc
            message = str(original).splitlines()[0] if str(original) else type(original).__name__
            if (
                "interrupted" in message.lower()
                or "timeout" in message.lower()
                or "max_statement_time" in message
            ):
                raise ToolError(f"the query ran longer than {self.timeout_s:g} s; narrow it down") from None
            if (
                "authoriz" in message.lower()
                or "read-only" in message.lower()
                or "read only" in message.lower()
            ):
                raise ToolAccessDenied(f"the database refused a non-read operation: {message}") from None
            raise ToolError(f"the database rejected the query: {message}") from None
        rows = [[_plain(v) for v in row] for row in fetched[: self.max_rows]]
        return {"columns": columns, "rows": rows, "truncated": len(fetched) > self.max_rows}

    def close(self) -> None:
        """Dispose of the engine."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


def sql_query_tool(
    url: str | URL, *, max_rows: int = 100, timeout_s: float = 5.0, name: str = "sql_query"
) -> BaseTool:
    """A tool running one read-only ``SELECT``/``WITH`` query and returning JSON rows.

    Args:
        url: the database's SQLAlchemy URL.
        max_rows: the most rows returned.
        timeout_s: the statement time limit in seconds.
        name: the tool's name.
    """
    database = ReadOnlySQL(url, max_rows=max_rows, timeout_s=timeout_s)

    def sql_query(query: str) -> str:
        """Run one read-only SQL query (SELECT or WITH) and return the columns and rows as JSON.

        Args:
            query: a single SELECT or WITH statement, without comments.
        """
        return json.dumps(database.query(query))

    return tool(name=name, timeout=timeout_s + 5.0)(sql_query)
