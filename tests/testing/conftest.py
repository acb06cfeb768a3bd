"""Fixtures for the offline doubles: litellm (imported once) and a fresh fake provider per test."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest

from thinkgraph._litellm import load_litellm
from thinkgraph.testing import FakeProvider


@pytest.fixture(scope="session")
def litellm() -> ModuleType:
    """litellm, imported once (it takes seconds)."""
    module = load_litellm()
    module.suppress_debug_info = True  # type: ignore[attr-defined]
    return module


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    """A running fake provider, stopped after the test."""
    with FakeProvider() as provider:
        yield provider
