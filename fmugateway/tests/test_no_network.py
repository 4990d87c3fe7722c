"""Tests reach loopback services only: pytest-socket (``--allow-hosts`` in pytest.ini)."""

import socket

import pytest
from pytest_socket import SocketConnectBlockedError


def test_a_test_cannot_connect_outside_loopback():
    # TEST-NET-1 (192.0.2.0/24) is nobody's host: refused before any packet is sent.
    with pytest.raises(SocketConnectBlockedError), pytest.warns(UserWarning, match="192.0.2.1"):
        socket.create_connection(("192.0.2.1", 443), timeout=1)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_test_can_connect_to_a_loopback_server(host):
    with (
        socket.create_server(("127.0.0.1", 0)) as server,
        socket.create_connection((host, server.getsockname()[1]), timeout=1),
    ):
        pass


def test_a_test_can_connect_to_a_unix_socket(tmp_path):
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        server.listen()
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(path)
