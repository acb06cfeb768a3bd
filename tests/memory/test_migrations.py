"""Schema migrations: idempotent, versioned, safe across processes, refusing newer schemas."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from thinkgraph.exceptions import SchemaTooNewError
from thinkgraph.memory import (
    SQLCheckpointer,
    aschema_revision,
    aupgrade,
    create_engines,
    head_revision,
    schema_revision,
    upgrade,
)
from thinkgraph.memory._migrate import SCRIPT_LOCATION, VERSION_TABLE
from thinkgraph.memory._schema import metadata

CHECKPOINT_TABLES = {"tg_checkpoints", "tg_checkpoint_blobs", "tg_checkpoint_writes"}


def test_upgrade_is_idempotent(shared_db_url: str) -> None:
    assert schema_revision(shared_db_url) is None
    head = head_revision()
    assert upgrade(shared_db_url) == head
    assert upgrade(shared_db_url) == head
    assert schema_revision(shared_db_url) == head
    engines = create_engines(shared_db_url)
    try:
        assert set(inspect(engines.sync).get_table_names()) >= CHECKPOINT_TABLES
    finally:
        engines.dispose()


async def test_async_upgrade(shared_db_url: str) -> None:
    assert await aschema_revision(shared_db_url) is None
    assert await aupgrade(shared_db_url) == head_revision()
    assert await aupgrade(shared_db_url) == head_revision()
    assert await aschema_revision(shared_db_url) == head_revision()


async def test_a_newer_schema_is_refused(shared_db_url: str) -> None:
    upgrade(shared_db_url)
    engines = create_engines(shared_db_url)
    try:
        with engines.write() as conn:
            conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = 'from_the_future'"))
        with pytest.raises(SchemaTooNewError, match="from_the_future"):
            upgrade(engines)
        with pytest.raises(SchemaTooNewError, match="upgrade thinkgraph"):
            await aupgrade(engines)
        with pytest.raises(SchemaTooNewError):
            SQLCheckpointer(engines).get_tuple({"configurable": {"thread_id": "t"}})
        assert schema_revision(engines) == "from_the_future"
    finally:
        await engines.adispose()


def test_processes_upgrading_at_once_all_succeed(shared_db_url: str) -> None:
    script = "import sys; from thinkgraph.memory import upgrade; print(upgrade(sys.argv[1]))"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, shared_db_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [proc.communicate(timeout=120) for proc in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert out.strip() == head_revision()
    assert schema_revision(shared_db_url) == head_revision()


def test_migrations_build_the_tables_the_code_declares(shared_db_url: str) -> None:
    upgrade(shared_db_url)
    engines = create_engines(shared_db_url)
    try:
        with engines.read() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diffs = compare_metadata(context, metadata)
    finally:
        engines.dispose()
    ours = [diff for diff in diffs if any(name in repr(diff) for name in CHECKPOINT_TABLES)]
    assert ours == []


def test_scripts_ship_inside_the_package_and_work_with_the_alembic_command(tmp_path: Path) -> None:
    assert (SCRIPT_LOCATION / "env.py").is_file()
    assert any(p.name.startswith("0001") for p in (SCRIPT_LOCATION / "versions").iterdir())
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.cmd_opts = argparse.Namespace(x=[f"url={url}"])
    command.upgrade(config, "0001")
    assert schema_revision(url) == "0001"
    assert upgrade(url) == head_revision()
    command.downgrade(config, "base")
    assert schema_revision(url) is None
