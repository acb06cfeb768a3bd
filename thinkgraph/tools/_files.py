"""File reading and listing confined to one root directory."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path, PurePosixPath

from langchain_core.tools import BaseTool

from thinkgraph.exceptions import ConfigError, ToolAccessDenied, ToolInputError
from thinkgraph.tools._decorator import tool

__all__ = ["FileSandbox", "file_tools"]


class FileSandbox:
    """Resolves model-supplied relative paths inside ``root`` and refuses everything else.

    Refused: absolute paths, ``..`` components, NUL bytes, and paths whose resolved location
    (symlinks followed) lies outside the root. Files are opened without following a final
    symlink and must be regular files no larger than ``max_bytes``.

    Args:
        root: the directory the tools may see.
        max_bytes: the largest file :meth:`read` returns.
        max_entries: the most entries :meth:`list` returns.
    """

    def __init__(self, root: str | os.PathLike[str], *, max_bytes: int = 1_000_000, max_entries: int = 1_000):
        resolved = Path(root).resolve()
        if not resolved.is_dir():
            raise ConfigError(f"the file tools' root {str(root)!r} is not an existing directory")
        if max_bytes < 1 or max_entries < 1:
            raise ConfigError(
                f"max_bytes and max_entries must be positive, got {max_bytes!r}, {max_entries!r}"
            )
        self.root = resolved
        self.max_bytes = max_bytes
        self.max_entries = max_entries

    def resolve(self, path: str) -> Path:
        """The real location of ``path`` (relative to the root), checked to lie inside it.

        Raises:
            ToolAccessDenied: the path is absolute, climbs with ``..`` or escapes through a symlink.
        """
        if "\x00" in path:
            raise ToolAccessDenied(f"the path {path!r} contains a NUL byte")
        text = path.strip() or "."
        if text.startswith(("/", "\\", "~")) or os.path.isabs(text) or (len(text) > 1 and text[1] == ":"):
            raise ToolAccessDenied(f"the path {path!r} is absolute: give a path relative to the root")
        parts = PurePosixPath(text.replace("\\", "/")).parts
        if ".." in parts:
            raise ToolAccessDenied(f"the path {path!r} climbs out with '..': stay inside the root")
        candidate = (self.root.joinpath(*parts)).resolve()
        if candidate != self.root and not candidate.is_relative_to(self.root):
            raise ToolAccessDenied(f"the path {path!r} leads outside the root (through a symlink)")
        return candidate

    def read(self, path: str) -> str:
        """The text of a file under the root (UTF-8, undecodable bytes replaced)."""
        real = self.resolve(path)
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(real, flags)
        except FileNotFoundError:
            raise ToolInputError(f"no file {path!r} under the root; list the directory first") from None
        except OSError as exc:
            raise ToolAccessDenied(f"cannot open {path!r}: {exc.strerror}") from None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            if stat.S_ISDIR(info.st_mode):
                raise ToolInputError(f"{path!r} is a directory: list it instead")
            raise ToolAccessDenied(f"{path!r} is not a regular file")
        with os.fdopen(fd, "rb") as handle:
            if info.st_size > self.max_bytes:
                raise ToolAccessDenied(
                    f"{path!r} has {info.st_size} bytes, more than the limit of {self.max_bytes}"
                )
            data = handle.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise ToolAccessDenied(f"{path!r} is larger than the limit of {self.max_bytes} bytes")
        return data.decode("utf-8", errors="replace")

    def list(self, path: str = ".") -> list[dict[str, object]]:
        """Entries of a directory under the root: name, type, size; symlinks leaving the root hidden."""
        real = self.resolve(path)
        if not real.is_dir():
            raise ToolInputError(f"{path!r} is not a directory under the root")
        entries: list[dict[str, object]] = []
        for entry in sorted(os.scandir(real), key=lambda e: e.name):
            if len(entries) >= self.max_entries:
                break
            target = Path(entry.path).resolve()
            if target != self.root and not target.is_relative_to(self.root):
                continue
            kind = "directory" if target.is_dir() else "file" if target.is_file() else "other"
            size = target.stat().st_size if kind == "file" else None
            entries.append({"name": entry.name, "type": kind, "size": size})
        return entries


def file_tools(
    root: str | os.PathLike[str], *, max_bytes: int = 1_000_000, max_entries: int = 1_000
) -> list[BaseTool]:
    """The ``read_file`` and ``list_directory`` tools, confined to ``root``.

    Args:
        root: the directory the model may read.
        max_bytes: the largest file returned.
        max_entries: the most directory entries returned.
    """
    sandbox = FileSandbox(root, max_bytes=max_bytes, max_entries=max_entries)

    def read_file(path: str) -> str:
        """Read a text file.

        Args:
            path: the file's path relative to the root directory.
        """
        return sandbox.read(path)

    def list_directory(path: str = ".") -> str:
        """List a directory: each entry's name, type and size, as JSON.

        Args:
            path: the directory's path relative to the root directory ("." for the root).
        """
        return json.dumps(sandbox.list(path))

    return [tool(timeout=10.0)(read_file), tool(timeout=10.0)(list_directory)]
