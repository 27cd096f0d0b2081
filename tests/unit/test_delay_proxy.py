"""bench/delay_proxy.py forwards bytes both ways, each chunk at least the delay late."""

import socket
import threading
import time

import pytest

from bench.delay_proxy import DelayProxy

DELAY_MS = 50


@pytest.fixture
def echo_server():
    """A loopback server that echoes what it reads until the client closes."""
    listener = socket.create_server(("127.0.0.1", 0))

    def echo(connection):
        with connection:
            while data := connection.recv(65536):
                connection.sendall(data)

    def serve():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # closed by the fixture
                return
            threading.Thread(target=echo, args=(connection,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()
    listener.close()


@pytest.fixture
def proxy(echo_server):
    """The proxy in front of the echo server, with a one-way delay of DELAY_MS."""
    running = DelayProxy(echo_server, DELAY_MS).start()
    yield running
    running.stop()


def _receive(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "the proxy closed the connection early"
        data += chunk
    return data


def test_it_forwards_bytes_both_ways_and_adds_the_delay_each_way(proxy):
    payload = bytes(range(256)) * 1024  # bigger than one chunk

    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(payload)
        echoed = _receive(sock, len(payload))
        elapsed = time.monotonic() - started

    assert echoed == payload
    assert elapsed >= 2 * DELAY_MS / 1000  # there and back again


def test_it_serves_connections_side_by_side(proxy):
    sockets = [socket.create_connection(("127.0.0.1", proxy.port), timeout=10) for _ in range(3)]
    try:
        for number, sock in enumerate(sockets):
            sock.sendall(b"hello %d" % number)
        assert [_receive(sock, 7) for sock in sockets] == [b"hello %d" % n for n in range(3)]
    finally:
        for sock in sockets:
            sock.close()


def test_a_closed_client_closes_the_connection_upstream(proxy):
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(b"bye")
        assert _receive(sock, 3) == b"bye"
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(1) == b""  # the echo server saw EOF and closed; so did the proxy
