"""Find the graph a command works on: a Python file, ``module:attribute``, or a YAML graph file.

Conventions for Python targets: the module exposes ``graph`` (a graph, builder or compiled graph)
or a ``build_graph()`` function; ``file.py:name`` or ``module:name`` picks another attribute (a
function is called without arguments). The module may ship an offline script for ``--offline``:
``OFFLINE_SCRIPT`` (a mapping of deployment or node name to replies and faults) or an
``offline_script()`` function returning one.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from thinkgraph.cli._errors import fail

__all__ = ["Target", "load_target", "offline_script_of", "split_target"]

_YAML_SUFFIXES = (".yaml", ".yml")
_SCRIPT_ATTRIBUTES = ("OFFLINE_SCRIPT", "offline_script")


@dataclass(frozen=True)
class Target:
    """A loaded target.

    Attributes:
        spec: what the user wrote.
        graph: the graph object it exposes (a thinkgraph graph, a builder or a LangGraph graph).
        module: the Python module it came from (``None`` for YAML files).
        path: the file it came from, when it is a file.
    """

    spec: str
    graph: Any
    module: ModuleType | None
    path: Path | None


def split_target(spec: str) -> tuple[str, str | None]:
    """``"file.py:attr"`` / ``"pkg.mod:attr"`` into its parts; a bare path or module has no attribute."""
    head, sep, tail = spec.rpartition(":")
    if sep and tail and head and not (len(head) == 1 and head.isalpha()):  # not a Windows drive letter
        return head, tail
    return spec, None


def _load_file(path: Path) -> ModuleType:
    directory = str(path.parent.resolve())
    if directory not in sys.path:  # like ``python file.py``: sibling modules are importable
        sys.path.insert(0, directory)
    name = f"thinkgraph_target_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise fail(f"cannot load {str(path)!r} as a Python module; give a .py file or module:attribute")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _load_module(name: str) -> ModuleType:
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")  # like ``python -m``: the working directory is importable
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise fail(
                f"no module or file named {name!r}; give a path to a .py or .yaml file, or module:attribute"
            ) from None
        raise


def _is_graph(obj: Any) -> bool:
    return any(hasattr(obj, attr) for attr in ("compile", "get_graph", "ainvoke", "run", "astream"))


def _resolve(obj: Any, where: str) -> Any:
    if _is_graph(obj):
        return obj
    if inspect.isfunction(obj) or inspect.ismethod(obj) or (callable(obj) and not isinstance(obj, type)):
        built = obj()
        if not _is_graph(built):
            raise fail(f"{where} returned {type(built).__name__}, not a graph; return a graph or builder")
        return built
    raise fail(f"{where} is a {type(obj).__name__}, not a graph; point at a graph or a function building one")


def _from_module(module: ModuleType, attribute: str | None, spec: str) -> Any:
    if attribute is not None:
        if not hasattr(module, attribute):
            raise fail(f"{spec!r}: the module has no attribute {attribute!r}")
        return _resolve(getattr(module, attribute), f"{spec!r}")
    if hasattr(module, "graph"):
        return _resolve(module.graph, f"{spec!r} attribute 'graph'")
    if hasattr(module, "build_graph"):
        return _resolve(module.build_graph, f"{spec!r} build_graph()")
    raise fail(
        f"{spec!r} exposes neither 'graph' nor 'build_graph()'; define one, or name the attribute "
        f"as {spec}:ATTRIBUTE"
    )


def _load_yaml(path: Path) -> Any:
    """The uncompiled graph a YAML file declares (its directory importable, like a script's)."""
    from thinkgraph.graphs import GraphSpec

    directory = str(path.parent.resolve())
    if directory not in sys.path:
        sys.path.insert(0, directory)
    return GraphSpec.from_file(path).build()


def load_target(spec: str) -> Target:
    """Load ``spec``: ``file.py``, ``file.py:attr``, ``module:attr``, ``module`` or ``file.yaml``.

    Raises:
        CliError: nothing usable was found; the message says what to write instead.
    """
    location, attribute = split_target(spec)
    path = Path(location)
    if path.suffix.lower() in _YAML_SUFFIXES:
        if not path.is_file():
            raise fail(f"YAML graph file {location!r} does not exist")
        if attribute is not None:
            raise fail(f"{spec!r}: a YAML file holds one graph; drop ':{attribute}'")
        return Target(spec, _load_yaml(path), None, path)
    if path.suffix.lower() == ".py" or path.is_file():
        if not path.is_file():
            raise fail(f"Python file {location!r} does not exist")
        module = _load_file(path)
        return Target(spec, _from_module(module, attribute, spec), module, path)
    module = _load_module(location)
    return Target(spec, _from_module(module, attribute, spec), module, None)


def offline_script_of(target: Target, override: str | None = None) -> Mapping[str, Any]:
    """The offline script of ``target`` (empty when it has none), or the one ``override`` names.

    ``override`` is ``module:attr`` or ``file.py:attr`` (a mapping, or a function returning one).
    For a YAML target, a Python file with the same name next to it is read for its script.
    """
    if override is not None:
        location, attribute = split_target(override)
        path = Path(location)
        chosen = _load_file(path) if path.suffix == ".py" or path.is_file() else _load_module(location)
        names: tuple[str, ...] = (attribute,) if attribute else _SCRIPT_ATTRIBUTES
        return _script_from(chosen, names, override, required=True)
    module: ModuleType | None = target.module
    if module is None and target.path is not None:
        sibling = target.path.with_suffix(".py")
        if sibling.is_file():
            module = _load_file(sibling)
    if module is None:
        return {}
    return _script_from(module, _SCRIPT_ATTRIBUTES, target.spec, required=False)


def _script_from(
    module: ModuleType, names: tuple[str, ...], where: str, *, required: bool
) -> Mapping[str, Any]:
    for name in names:
        if hasattr(module, name):
            value = getattr(module, name)
            if callable(value):
                value = value()
            if not isinstance(value, Mapping):
                raise fail(
                    f"{where}: {name} is a {type(value).__name__}; an offline script maps deployment or "
                    "node names to lists of replies"
                )
            return value
    if required:
        raise fail(f"{where!r} has no offline script ({' or '.join(names)})")
    return {}
