"""A real HTTP server on loopback that speaks several model providers' wire protocols."""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import socket
import threading
import time
from collections import deque
from types import TracebackType
from typing import Any

from aiohttp import web

from thinkgraph.exceptions import ConfigError
from thinkgraph.testing._fake_anthropic import AnthropicProtocol
from thinkgraph.testing._fake_gemini import GeminiProtocol
from thinkgraph.testing._fake_items import FakeRequest, Fault, Reply, ScriptItem
from thinkgraph.testing._fake_ollama import OllamaGenerateProtocol, OllamaProtocol
from thinkgraph.testing._fake_openai import OpenAIProtocol
from thinkgraph.testing._fake_protocol import Protocol, RenderContext

__all__ = ["FakeProvider"]

_DEPLOYMENT = re.compile(r"^/d/([^/]+)(?:/|$)")
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie"}
)
_SECRET_QUERY = re.compile(r"([?&](?:key|api_key|api-key)=)[^&]*")
_PARTIAL = "This answer is cut off in the middle of a sentence because the connection"
_ROOT_BASES = frozenset({"anthropic", "azure", "ollama", "ollama_chat"})


def _protocol_for(path: str, protocols: dict[str, Protocol]) -> Protocol | None:
    if path.endswith("/chat/completions"):
        return protocols["openai"]
    if path.endswith("/messages"):
        return protocols["anthropic"]
    if path.endswith((":generateContent", ":streamGenerateContent")):
        return protocols["gemini"]
    if path.endswith("/api/chat"):
        return protocols["ollama"]
    if path.endswith("/api/generate"):
        return protocols["ollama_generate"]
    return None


def _retry_after(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


class FakeProvider:
    """A fake model provider: a real aiohttp server on ``127.0.0.1`` at a random port.

    It runs its own event loop in a background thread, so it serves sync tests, async tests and
    any client (litellm, the OpenAI SDK, plain HTTP) alike::

        with FakeProvider() as fake:                     # or: async with FakeProvider() as fake
            fake.script("main", Reply(text="hi"), Fault.rate_limit(retry_after=1))
            litellm.completion(model="openai/x", api_base=fake.api_base("main"), api_key="k", ...)

    Every request is routed by its path **suffix**, so each litellm provider can be pointed at it
    with ``api_base`` (``fake.api_base(deployment, provider)`` builds the value). What litellm
    1.106 requests, given ``api_base=B``:

    * ``openai/``, ``deepseek/``, ``xai/``, ``together_ai/``, ``groq/``, ``hosted_vllm/``:
      ``B/chat/completions`` (``fake.api_base`` gives a ``…/v1`` base, as those APIs have);
    * ``mistral/``: ``B/chat/completions``, adding ``/v1`` when B lacks it;
    * ``azure/<dep>`` (``api_version`` required):
      ``B/openai/deployments/<dep>/chat/completions?api-version=…``;
    * ``anthropic/``: ``B/v1/messages``;
    * ``gemini/<model>``: ``B/models/<model>:generateContent`` and
      ``B/models/<model>:streamGenerateContent?alt=sse``;
    * ``ollama_chat/``: ``B/api/chat`` (NDJSON streaming); ``ollama/``: ``B/api/generate``.

    The deployment is the ``<name>`` of a ``/d/<name>/`` path prefix (``"default"`` without one).
    Each deployment replays its own script; when the script is empty it answers with the
    deployment's default item (:meth:`set_default`), else an echo of the last user message
    (``"echo: <text>"``), so any graph runs unscripted.

    Faults (:class:`Fault`) carry each protocol's error body and wording, so litellm classifies them:
    429 → ``RateLimitError`` (with ``Retry-After``), 500 → ``InternalServerError`` (Azure:
    ``APIError``), 503 → ``ServiceUnavailableError`` (Anthropic: ``InternalServerError``), 401 →
    ``AuthenticationError``, ``context_window`` → ``ContextWindowExceededError``, ``content_filter``
    → ``ContentPolicyViolationError``, ``bad_request`` → ``BadRequestError``, ``hang`` → ``Timeout``
    once the client's ``timeout`` passes, ``drop`` and ``malformed`` → connection/API errors, and
    ``Fault.drop(after_chunks=n)`` cuts a stream after ``n`` chunks (→ ``MidStreamFallbackError``).
    Limits of litellm 1.106.2 seen through it: Ollama maps neither context-window nor
    content-filter errors (both arrive as ``BadRequestError``); a hung *streamed* Gemini call is not
    cut by ``timeout``; malformed events in Anthropic, Gemini and Ollama streams are skipped silently;
    and ``acompletion(tools=...)`` imports the optional ``mcp`` package unless
    ``_skip_mcp_handler=True`` is passed.

    Args:
        latency: seconds added before every answer (on top of each item's own latency).

    Attributes:
        latency: the global latency; may be changed while the server runs.
    """

    def __init__(self, *, latency: float = 0.0) -> None:
        self.latency = latency
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[ScriptItem]] = {}
        self._defaults: dict[str, ScriptItem] = {}
        self._requests: list[FakeRequest] = []
        self._seq = 0
        self._protocols: dict[str, Protocol] = {
            p.name: p
            for p in (
                OpenAIProtocol(),
                AnthropicProtocol(),
                GeminiProtocol(),
                OllamaProtocol(),
                OllamaGenerateProtocol(),
            )
        }
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Event | None = None
        self._port: int | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeProvider:
        """Start serving (in a background thread); returns ``self``.

        Raises:
            ConfigError: the provider is already running.
        """
        if self._thread is not None:
            raise ConfigError("this FakeProvider is already running; stop() it before start()")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="thinkgraph-fake-provider", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            asyncio.run_coroutine_threadsafe(self._serve(), loop).result(timeout=30)
        except BaseException:
            self._stop_loop()
            raise
        return self

    def stop(self) -> None:
        """Stop serving: release hung requests, close connections, end the thread. Idempotent."""
        if self._loop is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=30)
        self._stop_loop()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        self._runner = None
        self._port = None
        if loop is None or thread is None:  # pragma: no cover - both are set together
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()

    async def _serve(self) -> None:
        self._closing = asyncio.Event()
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.25, handler_cancellation=True)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(runner, sock, backlog=4096)
        await site.start()
        self._runner = runner
        self._port = int(sock.getsockname()[1])

    async def _shutdown(self) -> None:
        if self._closing is not None:
            self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> FakeProvider:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)

    # --- addresses ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port.

        Raises:
            ConfigError: the provider is not running.
        """
        if self._port is None:
            raise ConfigError("this FakeProvider is not running: use it as a context manager or start() it")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: the server root (deployment ``"default"``)."""
        return f"http://127.0.0.1:{self.port}"

    def api_base(self, deployment: str = "default", provider: str = "openai") -> str:
        """The ``api_base`` that points litellm's ``provider`` at ``deployment``.

        Args:
            deployment: the deployment name (letters, digits, ``-``, ``_``, ``.``).
            provider: the litellm provider prefix (``openai``, ``anthropic``, ``gemini``, ``azure``,
                ``ollama_chat``, ...). OpenAI-compatible providers get a ``/v1`` base, Gemini a
                ``/v1beta`` base, Anthropic, Azure and Ollama the bare deployment root.

        Raises:
            ConfigError: the deployment name has characters a URL path segment cannot carry.
        """
        if not re.fullmatch(r"[A-Za-z0-9._-]+", deployment):
            raise ConfigError(
                f"deployment name {deployment!r} must use only letters, digits, '-', '_' and '.'"
            )
        root = f"{self.url}/d/{deployment}"
        if provider == "gemini":
            return root + "/v1beta"
        if provider in _ROOT_BASES:
            return root
        return root + "/v1"

    # --- scripting ------------------------------------------------------------------------

    def script(self, deployment: str, *items: ScriptItem) -> None:
        """Queue ``items`` for ``deployment``; each request consumes one, in order.

        Args:
            deployment: the deployment name.
            *items: :class:`Reply`, :class:`Fault`, ``str`` (a text reply) or a callable taking the
                :class:`FakeRequest` and returning one of those or ``None`` (the default reply).
        """
        for item in items:
            if not isinstance(item, Reply | Fault | str) and not callable(item):
                raise ConfigError(
                    f"cannot script {item!r}: use a Reply, a Fault, a str or a callable(request)"
                )
        with self._lock:
            self._scripts.setdefault(deployment, deque()).extend(items)

    def set_default(self, deployment: str, item: ScriptItem | None) -> None:
        """Answer ``deployment`` with ``item`` whenever its script is empty (``None``: the echo)."""
        with self._lock:
            if item is None:
                self._defaults.pop(deployment, None)
            else:
                self._defaults[deployment] = item

    def pending(self, deployment: str) -> int:
        """How many scripted items ``deployment`` has not consumed yet."""
        with self._lock:
            return len(self._scripts.get(deployment, ()))

    def reset(self) -> None:
        """Forget every script, default and recorded request."""
        with self._lock:
            self._scripts.clear()
            self._defaults.clear()
            self._requests.clear()

    # --- recorded requests ----------------------------------------------------------------

    @property
    def requests(self) -> list[FakeRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, deployment: str) -> list[FakeRequest]:
        """The requests ``deployment`` received, oldest first."""
        return [r for r in self.requests if r.deployment == deployment]

    def last_request(self, deployment: str | None = None) -> FakeRequest:
        """The most recent request (to ``deployment`` when given).

        Raises:
            LookupError: there is none.
        """
        found = self.requests if deployment is None else self.requests_for(deployment)
        if not found:
            where = f" for deployment {deployment!r}" if deployment is not None else ""
            raise LookupError(f"the fake provider has received no request{where}")
        return found[-1]

    # --- serving --------------------------------------------------------------------------

    def _next_item(self, deployment: str) -> tuple[ScriptItem | None, str]:
        with self._lock:
            queue = self._scripts.get(deployment)
            if queue:
                return queue.popleft(), "reply"
            return self._defaults.get(deployment), "default"

    async def _resolve(self, item: ScriptItem | None, record: FakeRequest, body: Any) -> Reply | Fault:
        value: Any = item
        if callable(value) and not isinstance(value, Reply | Fault):
            value = value(record)
            if inspect.isawaitable(value):
                value = await value
        if value is None:
            protocol = self._protocols[record.protocol]
            return Reply(text=f"echo: {protocol.last_user_text(body)}")
        if isinstance(value, str):
            return Reply(text=value)
        if isinstance(value, Reply | Fault):
            return value
        raise ConfigError(f"a scripted callable returned {value!r}: return a Reply, a Fault, a str or None")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = request.path
        match = _DEPLOYMENT.match(path)
        protocol = _protocol_for(path, self._protocols)
        headers = {k: ("***" if k.lower() in _SECRET_HEADERS else v) for k, v in request.headers.items()}
        record = FakeRequest(
            deployment=match.group(1) if match else "default",
            protocol=protocol.name if protocol else "unknown",
            method=request.method,
            path=_SECRET_QUERY.sub(r"\1***", request.path_qs),
            headers=headers,
            body=body,
            model=protocol.model_of(path, body) if protocol else "",
            stream=protocol.stream_requested(path, request.query, body) if protocol else False,
            received_at=time.time(),
        )
        with self._lock:
            self._requests.append(record)
            self._seq += 1
            seq = self._seq
        if protocol is None:
            record.status, record.outcome = 404, "unknown_path"
            message = f"the fake provider does not serve {path!r}; see FakeProvider's docstring for paths"
            return web.json_response({"error": {"message": message, "type": "not_found"}}, status=404)
        item, outcome = self._next_item(record.deployment)
        try:
            answer = await self._resolve(item, record, body)
        except Exception as exc:
            record.status, record.outcome = 500, "script_error"
            message = f"the fake provider's scripted callable failed: {type(exc).__name__}: {exc}"
            return web.json_response(protocol.error(Fault.server_error(), message), status=500)
        record.outcome = answer.kind if isinstance(answer, Fault) else outcome
        delay = max(0.0, self.latency + answer.latency)
        if delay and await self._closed_within(delay):
            return self._drop(request, record)
        if isinstance(answer, Fault) and not (answer.kind == "drop" and answer.after_chunks is not None):
            return await self._fault(request, record, protocol, answer)
        cut = answer.after_chunks if isinstance(answer, Fault) else None
        reply = answer if isinstance(answer, Reply) else Reply(text=_PARTIAL)
        ctx = RenderContext(
            model=record.model or "fake-model",
            seq=seq,
            created=int(record.received_at),
            input_tokens=reply.input_tokens
            if reply.input_tokens is not None
            else protocol.input_tokens(body),
            include_usage=protocol.include_usage(body),
        )
        if cut is not None and not record.stream:
            return self._drop(request, record)
        record.status = 200
        if not record.stream:
            return web.json_response(protocol.render(reply, ctx))
        response = web.StreamResponse(headers={"Content-Type": protocol.stream_content_type})
        await response.prepare(request)
        chunks = list(protocol.render_stream(reply, ctx))
        if cut is not None:
            await response.write(b"".join(chunks[:cut]))
            assert request.transport is not None
            request.transport.abort()
            return response
        # One write for the whole stream: clients parse events, not packets, and it halves syscalls.
        await response.write(b"".join(chunks))
        await response.write_eof()
        return response

    async def _closed_within(self, seconds: float) -> bool:
        """Sleep ``seconds``; ``True`` if the server began shutting down meanwhile."""
        assert self._closing is not None
        try:
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True

    def _drop(self, request: web.Request, record: FakeRequest) -> web.StreamResponse:
        record.status = None
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)

    async def _fault(
        self, request: web.Request, record: FakeRequest, protocol: Protocol, fault: Fault
    ) -> web.StreamResponse:
        if fault.kind == "hang":
            assert self._closing is not None
            await self._closing.wait()
            return self._drop(request, record)
        if fault.kind == "drop":
            return self._drop(request, record)
        record.status = fault.status
        if fault.kind == "malformed":
            if not record.stream:
                return web.Response(body=b'{"id": "broken", "choices": [', content_type="application/json")
            response = web.StreamResponse(headers={"Content-Type": protocol.stream_content_type})
            await response.prepare(request)
            await response.write(protocol.malformed_stream())
            await response.write_eof()
            return response
        headers: dict[str, str] = {}
        if fault.kind == "rate_limit" and fault.retry_after is not None:
            headers["Retry-After"] = _retry_after(fault.retry_after)
        message = fault.message or protocol.default_message(fault.kind)
        return web.json_response(protocol.error(fault, message), status=fault.status or 500, headers=headers)
