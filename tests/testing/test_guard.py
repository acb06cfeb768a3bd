"""The network guard, used directly."""

from __future__ import annotations

import socket

import pytest

from thinkgraph.exceptions import NetworkForbiddenError
from thinkgraph.testing import is_loopback_host, no_model_requests


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        (b"localhost", True),
        (None, True),
        ("", True),
        ("10.0.0.1", False),
        ("192.168.1.1", False),
        ("api.anthropic.com", False),
        (42, False),
    ],
)
def test_is_loopback_host(host: object, expected: bool) -> None:
    assert is_loopback_host(host) is expected


def test_guard_restores_socket_functions_and_checks_connect_ex() -> None:
    before = (socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo)
    with no_model_requests():
        sock = socket.socket()
        with sock, pytest.raises(NetworkForbiddenError):
            sock.connect_ex(("8.8.8.8", 53))
        ipv6 = socket.socket(socket.AF_INET6)
        with ipv6, pytest.raises(NetworkForbiddenError):
            ipv6.connect(("2001:db8::1", 443, 0, 0))
    assert (socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo) == before
