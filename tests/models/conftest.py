"""Fixtures for the models tests: one warmed-up FakeProvider per module."""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import ModuleType

import pytest
from tg_models_support import FAKE_KEY_ENV

from thinkgraph.testing import FakeProvider


@pytest.fixture(scope="module")
def fake(litellm: ModuleType) -> Iterator[FakeProvider]:
    """A FakeProvider shared by a module; reset before each test by ``fresh_fake``."""
    os.environ.setdefault(FAKE_KEY_ENV, "sk-test-not-a-secret")
    with FakeProvider() as provider:
        _warm_up(provider)
        yield provider


def _warm_up(fake: FakeProvider) -> None:
    """One call and one stream per wire protocol: litellm imports its handlers lazily (seconds)."""
    from tg_models_support import spec_for

    from thinkgraph.models import ChatModel

    for model in (
        "openai/gpt-4o-mini",
        "anthropic/claude-sonnet-4-5",
        "gemini/gemini-2.5-flash",
        "ollama_chat/x",
    ):
        chat = ChatModel(spec_for(fake, model, "warm-up", timeout=60))
        chat.invoke("warm up")
        list(chat.stream("warm up"))
    fake.reset()


@pytest.fixture
def fresh_fake(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    """The module's FakeProvider with no scripts and no recorded requests."""
    monkeypatch.setenv(FAKE_KEY_ENV, "sk-test-not-a-secret")
    fake.reset()
    fake.latency = 0.0
    return fake
