"""pytest fixtures for thinkgraph's offline doubles.

Enable them in your root ``conftest.py``::

    pytest_plugins = ["thinkgraph.testing.pytest_plugin"]

then ask for ``fake_provider`` in a test (sync or async)::

    def test_my_graph(fake_provider, monkeypatch):
        monkeypatch.setenv("FAKE_API_KEY", "not-a-secret")  # the fake accepts any key
        fake_provider.script("planner", Reply(text="plan"))
        spec = ModelSpec(
            model="openai/x", api_base=fake_provider.api_base("planner"), api_key_env="FAKE_API_KEY"
        )
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from thinkgraph.testing._fake_server import FakeProvider

__all__ = ["fake_provider"]


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    """A running :class:`~thinkgraph.testing.FakeProvider`, stopped after the test."""
    with FakeProvider() as provider:
        yield provider
