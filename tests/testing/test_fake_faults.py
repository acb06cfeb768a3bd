"""Every fault kind, observed through litellm as the exception class litellm raises for it."""

from __future__ import annotations

import time
from types import ModuleType
from typing import Any

import pytest

from thinkgraph.testing import FakeProvider, Fault

USER = [{"role": "user", "content": "hi"}]
KINDS = [
    "rate_limit",
    "server_error",
    "unavailable",
    "auth",
    "context_window",
    "content_filter",
    "bad_request",
    "hang",
    "drop",
    "malformed",
]
# What litellm 1.106.2 raises for each fault, per provider, without streaming. Where litellm does not
# classify a fault for a provider (Ollama has no context-window or content-filter mapping), the
# expectation records litellm's actual behaviour.
EXPECTED: dict[str, list[str]] = {
    "openai": [
        "RateLimitError",
        "InternalServerError",
        "ServiceUnavailableError",
        "AuthenticationError",
        "ContextWindowExceededError",
        "ContentPolicyViolationError",
        "BadRequestError",
        "Timeout",
        "InternalServerError",
        "InternalServerError",
    ],
    "azure": [
        "RateLimitError",
        "APIError",
        "ServiceUnavailableError",
        "AuthenticationError",
        "ContextWindowExceededError",
        "ContentPolicyViolationError",
        "BadRequestError",
        "Timeout",
        "APIConnectionError",
        "APIError",
    ],
    "anthropic": [
        "RateLimitError",
        "InternalServerError",
        "InternalServerError",
        "AuthenticationError",
        "ContextWindowExceededError",
        "ContentPolicyViolationError",
        "BadRequestError",
        "Timeout",
        "InternalServerError",
        "APIConnectionError",
    ],
    "gemini": [
        "RateLimitError",
        "InternalServerError",
        "ServiceUnavailableError",
        "AuthenticationError",
        "ContextWindowExceededError",
        "ContentPolicyViolationError",
        "BadRequestError",
        "Timeout",
        "APIConnectionError",
        "BadRequestError",
    ],
    "ollama_chat": [
        "RateLimitError",
        "InternalServerError",
        "ServiceUnavailableError",
        "AuthenticationError",
        "BadRequestError",
        "BadRequestError",
        "BadRequestError",
        "Timeout",
        "APIConnectionError",
        "APIConnectionError",
    ],
}
CASES = [(provider, kind, names[i]) for provider, names in EXPECTED.items() for i, kind in enumerate(KINDS)]


def _kwargs(fake: FakeProvider, provider: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "model": f"{provider}/m",
        "api_base": fake.api_base("f", provider),
        "api_key": "test",
        "messages": USER,
        "num_retries": 0,
        "max_retries": 0,
        "timeout": 0.3,
    }
    if provider == "azure":
        kwargs["api_version"] = "2024-10-21"
    return kwargs


async def _consume(litellm: ModuleType, kwargs: dict[str, Any]) -> None:
    response = await litellm.acompletion(stream=True, **kwargs)
    async for _ in response:
        pass


@pytest.mark.parametrize(("provider", "kind", "expected"), CASES, ids=[f"{p}-{k}" for p, k, _ in CASES])
async def test_fault_maps_to_the_litellm_exception(
    litellm: ModuleType, fake: FakeProvider, provider: str, kind: str, expected: str
) -> None:
    fake.script("f", Fault(kind))  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(Exception) as caught:
        await litellm.acompletion(**_kwargs(fake, provider))
    assert type(caught.value).__name__ == expected, caught.value
    assert isinstance(caught.value, getattr(litellm, expected))
    if kind == "hang":
        assert time.monotonic() - started < 3.0  # 0.3 s timeout + first-call warm-up under load
    record = fake.last_request("f")
    assert record.outcome == kind
    assert record.status == Fault(kind).status  # type: ignore[arg-type]


STREAM_KINDS = [
    "rate_limit",
    "server_error",
    "auth",
    "context_window",
    "content_filter",
    "bad_request",
    "hang",
    "drop",
]
STREAM_EXPECTED = {
    "openai": dict(
        zip(STREAM_KINDS, [EXPECTED["openai"][KINDS.index(k)] for k in STREAM_KINDS], strict=True)
    ),
    "anthropic": dict(
        zip(STREAM_KINDS, [EXPECTED["anthropic"][KINDS.index(k)] for k in STREAM_KINDS], strict=True)
    ),
}
STREAM_CASES = [(p, k, e) for p, table in STREAM_EXPECTED.items() for k, e in table.items()]


@pytest.mark.parametrize(
    ("provider", "kind", "expected"), STREAM_CASES, ids=[f"{p}-{k}" for p, k, _ in STREAM_CASES]
)
async def test_fault_on_a_streamed_call(
    litellm: ModuleType, fake: FakeProvider, provider: str, kind: str, expected: str
) -> None:
    fake.script("f", Fault(kind))  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(Exception) as caught:
        await _consume(litellm, _kwargs(fake, provider))
    assert type(caught.value).__name__ == expected, caught.value
    assert time.monotonic() - started < 3.0  # 0.3 s timeout + first-call warm-up under load


async def test_malformed_stream_fails_the_openai_stream(litellm: ModuleType, fake: FakeProvider) -> None:
    fake.script("f", Fault.malformed())
    with pytest.raises(litellm.exceptions.MidStreamFallbackError):
        await _consume(litellm, _kwargs(fake, "openai"))


async def test_rate_limit_sends_retry_after(litellm: ModuleType, fake: FakeProvider) -> None:
    fake.script("f", Fault.rate_limit(retry_after=7), Fault.rate_limit(retry_after=0.5, message="slow down"))
    with pytest.raises(litellm.RateLimitError) as caught:
        await litellm.acompletion(**_kwargs(fake, "openai"))
    assert caught.value.litellm_response_headers["retry-after"] == "7"
    with pytest.raises(litellm.RateLimitError) as caught:
        await litellm.acompletion(**_kwargs(fake, "openai"))
    assert caught.value.litellm_response_headers["retry-after"] == "0.5"
    assert "slow down" in str(caught.value)


async def test_custom_messages_and_fault_latency(litellm: ModuleType, fake: FakeProvider) -> None:
    fake.script("f", Fault.bad_request(message="field 'x' is wrong"), Fault.drop(latency=0.2))
    with pytest.raises(litellm.BadRequestError, match="field 'x' is wrong"):
        await litellm.acompletion(**_kwargs(fake, "openai"))
    started = time.monotonic()
    with pytest.raises(litellm.InternalServerError):
        await litellm.acompletion(**{**_kwargs(fake, "openai"), "timeout": 5})
    assert time.monotonic() - started >= 0.2


def test_fault_constructors_and_statuses() -> None:
    assert Fault.rate_limit().retry_after == 1.0
    assert Fault.rate_limit(None).retry_after is None
    assert [f.status for f in (Fault.server_error(), Fault.unavailable(), Fault.auth())] == [500, 503, 401]
    assert [f.kind for f in (Fault.context_window(), Fault.content_filter(), Fault.bad_request())] == [
        "context_window",
        "content_filter",
        "bad_request",
    ]
    assert (Fault.hang().status, Fault.drop().status, Fault.malformed().status) == (None, None, 200)


@pytest.mark.parametrize("provider", ["openai", "anthropic", "ollama_chat"])
async def test_drop_mid_stream_after_some_chunks(
    litellm: ModuleType, fake: FakeProvider, provider: str
) -> None:
    fake.script("f", Fault.drop(after_chunks=3), Fault.drop(after_chunks=3))
    received: list[Any] = []
    with pytest.raises(litellm.exceptions.MidStreamFallbackError, match="payload is not completed"):
        await _collect(litellm, {**_kwargs(fake, provider), "timeout": 5}, received)
    assert received  # some chunks arrived before the cut
    record = fake.last_request("f")
    assert (record.outcome, record.status) == ("drop", 200)
    with pytest.raises((litellm.APIConnectionError, litellm.InternalServerError)):
        await litellm.acompletion(**{**_kwargs(fake, provider), "timeout": 5})


async def _collect(litellm: ModuleType, kwargs: dict[str, Any], into: list[Any]) -> None:
    response = await litellm.acompletion(stream=True, **kwargs)
    async for chunk in response:
        into.append(chunk)
