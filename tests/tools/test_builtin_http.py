"""The HTTP GET tool against a local aiohttp server: allowlist, redirects, schemes, sizes, time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from thinkgraph.exceptions import ConfigError, ToolAccessDenied, ToolError, ToolTimeoutError
from thinkgraph.tools import HttpFetcher, ToolExecutor, http_get_tool


@pytest.fixture
async def server() -> AsyncIterator[int]:
    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="hello world")

    async def big(_: web.Request) -> web.Response:
        return web.Response(body=b"x" * 5000)

    async def streamed(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # no Content-Length: the limit must hold while reading
        await response.prepare(request)
        for _ in range(10):
            await response.write(b"y" * 1000)
        return response

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(text="late")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def loop(_: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def no_location(_: web.Request) -> web.Response:
        return web.Response(status=302)

    async def bad_location(_: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "http://[zz"})

    app = web.Application()
    routes = {"/hello": hello, "/big": big, "/streamed": streamed, "/slow": slow}
    routes.update(
        {"/redirect": redirect, "/loop": loop, "/nolocation": no_location, "/badlocation": bad_location}
    )
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield port
    await runner.cleanup()


async def test_fetches_allowed_host(server: int) -> None:
    fetcher = HttpFetcher([f"127.0.0.1:{server}"])
    response = await fetcher.get(f"http://127.0.0.1:{server}/hello")
    assert response.status == 200 and response.text == "hello world"
    assert response.content_type == "text/plain"
    # a redirect to the same allowed host is followed
    followed = await fetcher.get(f"http://127.0.0.1:{server}/redirect?to=/hello")
    assert followed.text == "hello world" and followed.url.endswith("/hello")


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:{port}/hello",  # not on the list
        "http://127.0.0.1:1/hello",  # right host, wrong port
        "ftp://127.0.0.1:{port}/hello",
        "file:///etc/passwd",
        "gopher://127.0.0.1:{port}/",
        "http://127.0.0.1:{port}@evil.example/hello",
        "http://user:pw@127.0.0.1:{port}/hello",
        "http://evil.example#@127.0.0.1:{port}/hello",
        "http://evil.example\\@127.0.0.1:{port}/hello",
        "http://2130706433:{port}/hello",
        "http://0x7f.0.0.1:{port}/hello",
        "http:///hello",
        "not a url",
        "http://[::1]:{port}/hello",
    ],
)
async def test_refuses_hostile_urls(server: int, url: str) -> None:
    fetcher = HttpFetcher([f"127.0.0.1:{server}"])
    with pytest.raises(ToolAccessDenied):
        await fetcher.get(url.format(port=server))


@pytest.mark.parametrize(
    "target",
    [
        "http://localhost:{port}/hello",
        "http://evil.example/",
        "file:///etc/passwd",
        "http://u@127.0.0.1:{port}/",
    ],
)
async def test_refuses_redirects_off_the_list(server: int, target: str) -> None:
    fetcher = HttpFetcher([f"127.0.0.1:{server}"])
    with pytest.raises(ToolAccessDenied):
        await fetcher.get(f"http://127.0.0.1:{server}/redirect?to={target.format(port=server)}")


async def test_limits(server: int) -> None:
    fetcher = HttpFetcher([f"127.0.0.1:{server}"], max_bytes=2000, timeout_s=0.3, max_redirects=2)
    with pytest.raises(ToolAccessDenied, match="5000 bytes, more than the limit of 2000"):
        await fetcher.get(f"http://127.0.0.1:{server}/big")
    with pytest.raises(ToolAccessDenied, match="sent more than the limit of 2000"):
        await fetcher.get(f"http://127.0.0.1:{server}/streamed")
    with pytest.raises(ToolTimeoutError, match="longer than 0.3 s"):
        await fetcher.get(f"http://127.0.0.1:{server}/slow")
    with pytest.raises(ToolAccessDenied, match="redirected more than 2 times"):
        await fetcher.get(f"http://127.0.0.1:{server}/loop")
    with pytest.raises(ToolError, match="without a Location"):
        await fetcher.get(f"http://127.0.0.1:{server}/nolocation")
    with pytest.raises(ToolAccessDenied, match="cannot follow the redirect"):
        await fetcher.get(f"http://127.0.0.1:{server}/badlocation")


async def test_connection_failure_is_a_tool_error(server: int) -> None:
    fetcher = HttpFetcher(["127.0.0.1"])
    with pytest.raises(ToolError, match="failed"):
        await fetcher.get("http://127.0.0.1:9/")  # discard port: nothing listens


def test_allowlist_forms() -> None:
    fetcher = HttpFetcher(["*.example.com", "api.test:8443", "Plain.Host"])
    assert fetcher.check("https://a.b.example.com/x").host == "a.b.example.com"
    assert fetcher.check("https://api.test:8443/").port == 8443
    assert fetcher.check("http://plain.host./").host == "plain.host."
    for url in ["https://example.com.evil.net/", "https://notexample.com/", "https://api.test/"]:
        with pytest.raises(ToolAccessDenied):
            fetcher.check(url)
    for bad in [[], ["http://x.com"], ["a/b"], ["u@h"], ["host:port"]]:
        with pytest.raises(ConfigError):
            HttpFetcher(bad)
    with pytest.raises(ConfigError):
        HttpFetcher(["x"], max_bytes=0)


async def test_tool_through_executor(server: int) -> None:
    executor = ToolExecutor([http_get_tool([f"127.0.0.1:{server}"])])
    ok = await executor.ainvoke_call(
        {"name": "http_get", "args": {"url": f"http://127.0.0.1:{server}/hello"}, "id": "1"}
    )
    assert ok.status == "success" and str(ok.content).endswith("hello world")
    denied = await executor.ainvoke_call(
        {"name": "http_get", "args": {"url": "http://169.254.169.254/latest/meta-data"}, "id": "2"}
    )
    assert denied.status == "error" and "ToolAccessDenied" in str(denied.content)
