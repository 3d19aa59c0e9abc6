"""The bench's latency proxy (bench/latency_proxy.py) forwards every byte, in order, both ways,
each chunk at least its delay after it arrived. Loopback only."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from bench import latency_proxy

DELAY_S = 0.05


class Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _exchange(port: int, payload: bytes) -> tuple[bytes, float]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        started = time.monotonic()
        conn.sendall(payload)
        received = b""
        while len(received) < len(payload):
            chunk = conn.recv(65536)
            if not chunk:
                break
            received += chunk
        return received, time.monotonic() - started


def test_every_byte_comes_back_in_order_through_the_proxy(echo_port: int) -> None:
    payload = bytes(range(256)) * 4096  # 1 MB: many chunks each way
    with latency_proxy.delayed(echo_port, DELAY_S) as proxy:
        received, _ = _exchange(proxy.port, payload)
    assert received == payload


def test_a_round_trip_waits_the_delay_each_way(echo_port: int) -> None:
    with latency_proxy.delayed(echo_port, DELAY_S) as proxy:
        assert proxy.url == f"http://127.0.0.1:{proxy.port}"
        _, round_trip = _exchange(proxy.port, b"ping")
    assert round_trip >= 2 * DELAY_S
