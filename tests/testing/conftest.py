"""Fixtures for the offline doubles: a fresh fake provider per test."""

from __future__ import annotations

import pytest

from thinkgraph.testing import FakeProvider


@pytest.fixture
def fake(fake_provider: FakeProvider) -> FakeProvider:
    """The shipped ``fake_provider`` fixture: a running fake provider, stopped after the test."""
    return fake_provider
