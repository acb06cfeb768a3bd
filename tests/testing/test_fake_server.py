"""FakeProvider as a server: lifecycle, scripting, recording, routing, latency, concurrency."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from types import ModuleType
from typing import Any

import aiohttp
import pytest

from thinkgraph.exceptions import ConfigError
from thinkgraph.testing import FakeProvider, FakeRequest, Fault, Reply
from thinkgraph.testing.pytest_plugin import fake_provider as fake_provider_fixture

USER = [{"role": "user", "content": "hello"}]
fake_provider = fake_provider_fixture


async def _post(url: str, body: Any, **kwargs: Any) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body, **kwargs) as response:
        return response.status, await response.text()


def _chat(fake: FakeProvider, deployment: str = "d") -> str:
    return fake.api_base(deployment) + "/chat/completions"


async def _content(fake: FakeProvider, deployment: str = "d", text: str = "hello") -> str:
    status, body = await _post(
        _chat(fake, deployment), {"model": "m", "messages": [{"role": "user", "content": text}]}
    )
    assert status == 200, body
    return str(json.loads(body)["choices"][0]["message"]["content"])


def test_plugin_fixture_serves(fake_provider: FakeProvider) -> None:
    assert fake_provider.url.startswith("http://127.0.0.1:")
    assert asyncio.run(_content(fake_provider)) == "echo: hello"


def test_lifecycle_errors_and_idempotent_stop() -> None:
    fake = FakeProvider()
    with pytest.raises(ConfigError, match="not running"):
        _ = fake.url
    fake.stop()
    with fake:
        with pytest.raises(ConfigError, match="already running"):
            fake.start()
        port = fake.port
    with pytest.raises(ConfigError, match="not running"):
        _ = fake.port
    assert port > 0


async def test_async_context_manager_in_a_running_loop() -> None:
    async with FakeProvider() as fake:
        fake.script("d", "async hello")
        assert await _content(fake) == "async hello"


async def test_script_order_defaults_and_pending(fake: FakeProvider) -> None:
    fake.script("d", "one", Reply(text="two"))
    fake.script("other", "elsewhere")
    assert (fake.pending("d"), fake.pending("other"), fake.pending("none")) == (2, 1, 0)
    assert await _content(fake) == "one"
    assert await _content(fake, "other") == "elsewhere"
    assert await _content(fake) == "two"
    fake.set_default("d", "fallback")
    assert await _content(fake) == "fallback"
    assert await _content(fake) == "fallback"
    fake.set_default("d", None)
    assert await _content(fake, text="back to echo") == "echo: back to echo"
    assert [r.outcome for r in fake.requests_for("d")] == ["reply", "reply", "default", "default", "default"]


async def test_callable_items_see_the_request(fake: FakeProvider) -> None:
    seen: list[FakeRequest] = []

    def by_length(request: FakeRequest) -> Reply | Fault | str | None:
        seen.append(request)
        return f"{len(request.messages)} message(s)"

    async def later(request: FakeRequest) -> str | None:
        await asyncio.sleep(0)
        return None

    fake.script("d", by_length, later, lambda r: Fault.auth())
    assert await _content(fake) == "1 message(s)"
    assert await _content(fake, text="x") == "echo: x"
    status, _ = await _post(_chat(fake), {"model": "m", "messages": USER})
    assert status == 401
    assert seen[0].deployment == "d" and seen[0].protocol == "openai"
    fake.set_default("d", lambda r: Reply(text=r.model))
    assert await _content(fake) == "m"


async def test_broken_callables_answer_500_with_the_reason(fake: FakeProvider) -> None:
    def boom(request: FakeRequest) -> str:
        raise RuntimeError("kaput")

    fake.script("d", boom, lambda r: 42)  # type: ignore[arg-type,return-value]
    status, body = await _post(_chat(fake), {"messages": USER})
    assert status == 500 and "RuntimeError: kaput" in body
    status, body = await _post(_chat(fake), {"messages": USER})
    assert status == 500 and "returned 42" in body
    assert fake.last_request().outcome == "script_error"


def test_bad_script_items_and_names_are_rejected(fake: FakeProvider) -> None:
    with pytest.raises(ConfigError, match="cannot script 42"):
        fake.script("d", 42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="deployment name 'a/b'"):
        fake.api_base("a/b")


def test_api_base_per_provider(fake: FakeProvider) -> None:
    root = f"{fake.url}/d/x"
    assert fake.api_base("x") == root + "/v1"
    assert fake.api_base("x", "deepseek") == root + "/v1"
    assert fake.api_base("x", "gemini") == root + "/v1beta"
    assert [fake.api_base("x", p) for p in ("anthropic", "azure", "ollama", "ollama_chat")] == [root] * 4


async def test_requests_are_recorded_with_keys_redacted(fake: FakeProvider) -> None:
    headers = {"Authorization": "Bearer sk-secret", "x-api-key": "k2", "X-Custom": "kept"}
    await _post(
        fake.api_base("g", "gemini") + "/models/gm:generateContent?key=secret&alt=json",
        {"contents": []},
        headers=headers,
    )
    request = fake.last_request()
    assert request.headers["Authorization"] == "***" and request.headers["x-api-key"] == "***"
    assert request.headers["X-Custom"] == "kept"
    assert "secret" not in request.path and "key=***" in request.path
    assert request.received_at <= time.time() and request.status == 200
    assert request.messages == []
    assert fake.requests == [request]
    fake.reset()
    assert fake.requests == []
    with pytest.raises(LookupError, match="no request for deployment 'g'"):
        fake.last_request("g")
    with pytest.raises(LookupError, match="no request$"):
        fake.last_request()


async def test_non_json_body_and_unknown_path(fake: FakeProvider) -> None:
    async with aiohttp.ClientSession() as session, session.post(_chat(fake), data=b"not json") as response:
        assert response.status == 200
        assert json.loads(await response.text())["choices"][0]["message"]["content"] == "echo: "
    assert fake.last_request().body is None and fake.last_request().messages == []
    status, body = await _post(fake.url + "/v1/embeddings", {"input": "x"})
    assert status == 404 and "does not serve '/v1/embeddings'" in body
    assert fake.last_request().outcome == "unknown_path"


async def test_malformed_json_body(fake: FakeProvider) -> None:
    fake.script("d", Fault.malformed())
    status, body = await _post(_chat(fake), {"messages": USER})
    assert status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)


async def test_global_and_per_reply_latency(fake: FakeProvider) -> None:
    fake.latency = 0.1
    fake.script("d", Reply(text="slow", latency=0.1))
    started = time.monotonic()
    assert await _content(fake) == "slow"
    assert time.monotonic() - started >= 0.2


def test_stop_releases_hung_and_sleeping_requests() -> None:
    fake = FakeProvider().start()
    fake.script("d", Fault.hang(), Reply(text="never", latency=60))
    outcomes: list[str] = []

    def call() -> None:
        async def go() -> None:
            try:
                await _content(fake)
            except aiohttp.ClientError as exc:
                outcomes.append(type(exc).__name__)

        asyncio.run(go())

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while len(fake.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    fake.stop()
    for thread in threads:
        thread.join(timeout=5)
    assert time.monotonic() - started < 3
    assert len(outcomes) == 2


async def test_two_hundred_concurrent_requests_with_latency(fake: FakeProvider) -> None:
    fake.latency = 0.1
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> str:
            body = {"model": "m", "messages": [{"role": "user", "content": f"n{i}"}]}
            async with session.post(_chat(fake, f"c{i % 4}"), json=body) as response:
                return str((await response.json())["choices"][0]["message"]["content"])

        started = time.monotonic()
        answers = await asyncio.gather(*(one(i) for i in range(200)))
        elapsed = time.monotonic() - started
    assert sorted(answers) == sorted(f"echo: n{i}" for i in range(200))
    assert elapsed < 5, elapsed
    assert len(fake.requests) == 200 and {r.status for r in fake.requests} == {200}


async def test_thirty_concurrent_litellm_calls(litellm: ModuleType, fake: FakeProvider) -> None:
    fake.latency = 0.05
    calls = [
        litellm.acompletion(
            model="openai/m",
            api_base=fake.api_base("lit"),
            api_key="k",
            messages=[{"role": "user", "content": f"q{i}"}],
            num_retries=0,
            max_retries=0,
            timeout=30,
        )
        for i in range(30)
    ]
    responses = await asyncio.gather(*calls)
    assert sorted(r.choices[0].message.content for r in responses) == sorted(f"echo: q{i}" for i in range(30))
