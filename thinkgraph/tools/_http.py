"""An HTTP GET tool restricted to an allowlist of hosts, with size, time and redirect limits."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yarl
from langchain_core.tools import BaseTool

from thinkgraph.exceptions import ConfigError, ToolAccessDenied, ToolError, ToolTimeoutError
from thinkgraph.tools._decorator import tool

__all__ = ["HttpFetcher", "HttpResponse", "http_get_tool"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """What one allowed GET returned."""

    url: str
    status: int
    content_type: str
    text: str


def _parse_allowed(entry: str) -> tuple[str, int | None]:
    entry = entry.strip().lower()
    if "://" in entry or "/" in entry or "@" in entry or not entry:
        raise ConfigError(f"allowed host {entry!r} must be a bare host name or host:port")
    host, sep, port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
    if sep and not port.isdigit():
        raise ConfigError(f"allowed host {entry!r} has an invalid port")
    return (host, int(port)) if sep else (entry, None)


class HttpFetcher:
    """Fetches URLs whose host (and port, when given) is on an allowlist.

    Refused: schemes other than http/https, user info in the URL (``user@host``), hosts or ports
    not on the list, redirects leading off the list, bodies over ``max_bytes``. Entries are exact
    host names (``example.com``), ``host:port``, or ``*.example.com`` for any subdomain. The check
    is by name: an allowed name is trusted to resolve where you expect (no proxy from the
    environment is used). Redirects are followed by hand, each hop checked again.

    Args:
        allowed_hosts: the allowlist.
        max_bytes: the largest body returned.
        timeout_s: seconds for the whole fetch, redirects included.
        max_redirects: the most redirects followed.
    """

    def __init__(
        self,
        allowed_hosts: Iterable[str],
        *,
        max_bytes: int = 1_000_000,
        timeout_s: float = 10.0,
        max_redirects: int = 3,
    ) -> None:
        self.allowed = [_parse_allowed(h) for h in allowed_hosts]
        if not self.allowed:
            raise ConfigError("allowed_hosts is empty: name at least one host the tool may fetch from")
        if max_bytes < 1 or not timeout_s > 0 or max_redirects < 0:
            raise ConfigError(
                f"invalid limits: max_bytes={max_bytes!r}, timeout_s={timeout_s!r}, "
                f"max_redirects={max_redirects!r}"
            )
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.max_redirects = max_redirects

    def check(self, url: str | yarl.URL) -> yarl.URL:
        """The parsed URL if it may be fetched.

        Raises:
            ToolAccessDenied: the scheme, user info, host or port is not allowed.
        """
        try:
            parsed = url if isinstance(url, yarl.URL) else yarl.URL(url)
        except (ValueError, TypeError) as exc:
            raise ToolAccessDenied(f"cannot parse the URL {str(url)!r}: {exc}") from None
        if parsed.scheme not in _DEFAULT_PORTS:
            raise ToolAccessDenied(f"the URL {str(url)!r} is not http or https")
        if parsed.user is not None or parsed.password is not None or "@" in (parsed.raw_authority or ""):
            raise ToolAccessDenied(f"the URL {str(url)!r} carries user info: remove the 'user@' part")
        host = (parsed.host or "").lower().rstrip(".")
        port = parsed.port or _DEFAULT_PORTS[parsed.scheme]
        if not host or "\\" in str(url) or any(c in host for c in "\x00 %"):
            raise ToolAccessDenied(f"the URL {str(url)!r} has no valid host")
        for allowed_host, allowed_port in self.allowed:
            host_ok = host == allowed_host or (
                allowed_host.startswith("*.") and host.endswith(allowed_host[1:])
            )
            if host_ok and (allowed_port is None or allowed_port == port):
                return parsed
        names = ", ".join(h if p is None else f"{h}:{p}" for h, p in self.allowed)
        raise ToolAccessDenied(f"the host {host!r} (port {port}) is not allowed; allowed: {names}")

    async def get(self, url: str) -> HttpResponse:
        """GET ``url``, following allowed redirects.

        Raises:
            ToolAccessDenied: the URL, a redirect or the body size is refused.
            ToolTimeoutError: it took longer than ``timeout_s``.
            ToolError: the connection failed.
        """
        try:
            return await asyncio.wait_for(self._get(url), self.timeout_s)
        except TimeoutError:
            raise ToolTimeoutError(f"fetching {url!r} took longer than {self.timeout_s:g} s") from None

    async def _get(self, url: str) -> HttpResponse:
        import aiohttp

        current = self.check(url)
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session:
            for _ in range(self.max_redirects + 1):
                try:
                    async with session.get(current, allow_redirects=False) as response:
                        if response.status in (301, 302, 303, 307, 308):
                            location = response.headers.get("Location")
                            if not location:
                                raise ToolError(f"{str(current)!r} redirected without a Location")
                            try:
                                target = current.join(yarl.URL(location))
                            except (ValueError, TypeError):
                                raise ToolAccessDenied(
                                    f"cannot follow the redirect to {location!r}"
                                ) from None
                            current = self.check(target)
                            continue
                        body = await self._read_limited(response, str(current))
                        charset = response.charset or "utf-8"
                        return HttpResponse(
                            url=str(current),
                            status=response.status,
                            content_type=response.content_type,
                            text=body.decode(charset, errors="replace"),
                        )
                except aiohttp.ClientError as exc:
                    raise ToolError(
                        f"fetching {str(current)!r} failed: {type(exc).__name__}: {exc}"
                    ) from None
        raise ToolAccessDenied(f"{url!r} redirected more than {self.max_redirects} times")

    async def _read_limited(self, response: Any, url: str) -> bytes:
        declared = response.content_length
        if declared is not None and declared > self.max_bytes:
            raise ToolAccessDenied(f"{url!r} has {declared} bytes, more than the limit of {self.max_bytes}")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(65_536):
            size += len(chunk)
            if size > self.max_bytes:
                raise ToolAccessDenied(f"{url!r} sent more than the limit of {self.max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


def http_get_tool(
    allowed_hosts: Iterable[str],
    *,
    max_bytes: int = 1_000_000,
    timeout_s: float = 10.0,
    max_redirects: int = 3,
    name: str = "http_get",
) -> BaseTool:
    """A tool fetching a URL with GET from an allowlist of hosts.

    Args:
        allowed_hosts: host names (``example.com``), ``host:port`` or ``*.example.com``.
        max_bytes: the largest body returned.
        timeout_s: seconds for the whole fetch.
        max_redirects: the most redirects followed.
        name: the tool's name.
    """
    fetcher = HttpFetcher(
        allowed_hosts, max_bytes=max_bytes, timeout_s=timeout_s, max_redirects=max_redirects
    )

    async def http_get(url: str) -> str:
        """Fetch a web page or API response with HTTP GET.

        Args:
            url: the full http(s) URL; only some hosts are allowed.
        """
        response = await fetcher.get(url)
        return f"HTTP {response.status} {response.content_type} from {response.url}\n\n{response.text}"

    return tool(name=name, timeout=timeout_s + 1.0)(http_get)
