"""Fixtures of the graphs tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from tg_graphs_support import FAKE_KEY_ENV

from thinkgraph.testing import FakeProvider


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    """A FakeProvider shared by a test module."""
    os.environ.setdefault(FAKE_KEY_ENV, "sk-test-not-a-secret")
    with FakeProvider() as provider:
        yield provider
