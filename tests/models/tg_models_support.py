"""Helpers shared by the models tests (a uniquely named module: tests have no packages)."""

from __future__ import annotations

from thinkgraph.models import BreakerRegistry, ChatModel, ModelSpec, RetryPolicy
from thinkgraph.testing import FakeProvider

FAKE_KEY_ENV = "THINKGRAPH_TEST_FAKE_KEY"


async def no_sleep(seconds: float) -> None:
    """A sleep that returns at once."""
    return None


FAST_RETRY = RetryPolicy(base=0.001, cap=0.002, jitter=False, sleep=no_sleep)


class Clock:
    """A monotonic clock the test moves by hand (``clock.now += seconds``), for breakers."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def spec_for(fake: FakeProvider, model: str, deployment: str | None = None, **kwargs: object) -> ModelSpec:
    """A spec pointing ``model`` (``provider/name``) at ``deployment`` of ``fake``."""
    provider = model.split("/", 1)[0]
    options: dict[str, object] = {"api_key_env": FAKE_KEY_ENV, "timeout": 5.0, "max_retries": 0}
    if provider == "azure":
        options["params"] = {"api_version": "2024-10-21"}
    options.update(kwargs)
    return ModelSpec(
        model=model,
        api_base=fake.api_base(deployment or provider.replace("_", "-"), provider),
        **options,  # type: ignore[arg-type]
    )


def chat(
    fake: FakeProvider, *models: str | ModelSpec, breakers: BreakerRegistry | None = None, **kwargs: object
) -> ChatModel:
    """A ChatModel over ``models`` (strings become specs against ``fake``) with instant retries."""
    specs = [m if isinstance(m, ModelSpec) else spec_for(fake, m, **kwargs) for m in models]
    return ChatModel(
        specs[0], fallbacks=specs[1:], retry=FAST_RETRY, breakers=breakers or BreakerRegistry(threshold=100)
    )
