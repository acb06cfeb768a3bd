"""File tools confined to a root: traversal, absolute paths, symlink escapes, size limits."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from thinkgraph.exceptions import ConfigError, ToolAccessDenied, ToolInputError
from thinkgraph.tools import FileSandbox, ToolExecutor, file_tools


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "a.txt").write_text("alpha")
    (root / "big.bin").write_bytes(b"x" * 2048)
    (root / "bad.txt").write_bytes(b"ok \xff\xfe")
    (tmp_path / "secret.txt").write_text("top secret")
    (root / "escape").symlink_to(tmp_path / "secret.txt")
    (root / "escape_dir").symlink_to(tmp_path)
    (root / "inside").symlink_to(root / "docs" / "a.txt")
    return root


def test_reads_and_lists_inside(tree: Path) -> None:
    box = FileSandbox(tree, max_bytes=1024)
    assert box.read("docs/a.txt") == "alpha"
    assert box.read("./docs//a.txt") == "alpha"
    assert box.read("inside") == "alpha"  # a symlink that stays inside is fine
    assert box.read("bad.txt") == "ok \ufffd\ufffd"
    names = {e["name"]: e for e in box.list(".")}
    assert set(names) == {"bad.txt", "big.bin", "docs", "inside"}  # escaping links are hidden
    assert names["docs"]["type"] == "directory" and names["big.bin"]["size"] == 2048
    assert box.list("docs") == [{"name": "a.txt", "type": "file", "size": 5}]


@pytest.mark.parametrize(
    "hostile",
    [
        "../secret.txt",
        "docs/../../secret.txt",
        "..",
        "/etc/passwd",
        "\\etc\\passwd",
        "~/secret.txt",
        "C:\\Windows\\win.ini",
        "escape",
        "escape_dir/secret.txt",
        "docs/a.txt\x00.png",
        "docs\\..\\..\\secret.txt",
    ],
)
def test_escapes_are_refused(tree: Path, hostile: str) -> None:
    box = FileSandbox(tree)
    with pytest.raises(ToolAccessDenied):
        box.read(hostile)
    with pytest.raises(ToolAccessDenied):
        box.list(hostile)


def test_size_and_kind_limits(tree: Path) -> None:
    box = FileSandbox(tree, max_bytes=1024, max_entries=2)
    with pytest.raises(ToolAccessDenied, match="2048 bytes, more than the limit of 1024"):
        box.read("big.bin")
    with pytest.raises(ToolInputError, match="is a directory"):
        box.read("docs")
    with pytest.raises(ToolInputError, match="no file 'nope.txt'"):
        box.read("nope.txt")
    with pytest.raises(ToolInputError, match="not a directory"):
        box.list("docs/a.txt")
    assert len(box.list(".")) == 2
    os.mkfifo(tree / "pipe")
    with pytest.raises(ToolAccessDenied, match="not a regular file"):
        box.read("pipe")


def test_bad_configuration(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not an existing directory"):
        FileSandbox(tmp_path / "missing")
    with pytest.raises(ConfigError):
        FileSandbox(tmp_path, max_bytes=0)


async def test_tools_through_the_executor(tree: Path) -> None:
    read_file, list_directory = file_tools(tree)
    assert json.loads(list_directory.invoke({"path": "docs"}))[0]["name"] == "a.txt"
    executor = ToolExecutor([read_file, list_directory])
    ok = await executor.ainvoke_call({"name": "read_file", "args": {"path": "docs/a.txt"}, "id": "1"})
    assert ok.content == "alpha" and ok.status == "success"
    denied = await executor.ainvoke_call({"name": "read_file", "args": {"path": "../secret.txt"}, "id": "2"})
    assert denied.status == "error" and "ToolAccessDenied" in str(denied.content)
    assert "top secret" not in str(denied.content)
