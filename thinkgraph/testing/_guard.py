"""A guard against real network traffic: only loopback and local sockets are allowed."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from thinkgraph.exceptions import NetworkForbiddenError

__all__ = ["is_loopback_host", "no_model_requests"]

_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def is_loopback_host(host: object) -> bool:
    """True when ``host`` names this machine's loopback interface (or no host at all)."""
    if host is None or host == "" or host == b"":
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").lower()
    if name in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _check_address(family: int, address: Any) -> None:
    inet = family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple)
    if inet and not is_loopback_host(address[0]):
        raise NetworkForbiddenError(
            f"refused a connection to {address[0]!r}: only loopback is allowed here; "
            "point the model at thinkgraph.testing.FakeProvider (api_base=fake.url)"
        )


@contextmanager
def no_model_requests() -> Iterator[None]:
    """Fail any attempt to open a connection to, or resolve, a non-loopback address.

    Use it around code under test (our own ``conftest.py`` applies it to every test) so a
    misconfigured model can never reach a real provider. Unix sockets and loopback TCP (for
    example :class:`~thinkgraph.testing.FakeProvider` and local databases) keep working.

    Raises:
        NetworkForbiddenError: inside the block, on a non-loopback connect or lookup.
    """
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        _check_address(self.family, address)
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check_address(self.family, address)
        return original_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not is_loopback_host(host):
            raise NetworkForbiddenError(
                f"refused to resolve {host!r}: only loopback is allowed here; "
                "point the model at thinkgraph.testing.FakeProvider (api_base=fake.url)"
            )
        return original_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.socket.connect = original_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = original_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = original_getaddrinfo
