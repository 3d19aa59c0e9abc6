"""A webhook receiver that reads a request, then sends its status line a byte a second: never
an answer within a try. It counts the connections open at once (tries in flight). Used by the
bench's webhook scenario and by tests/e2e/test_webhook_isolation.py; listens on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

STATUS_LINE = b"HTTP/1.1 200 OK\r\n"


@dataclass
class SlowReceiver:
    port: int = 0
    open_now: int = 0
    most_open: int = 0
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slow"

    def _count(self, change: int) -> None:
        with self.lock:
            self.open_now += change
            self.most_open = max(self.most_open, self.open_now)
            self.requests += max(change, 0)

    def trickle(self, connection: socket.socket) -> None:
        self._count(+1)
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                data += chunk
            for byte in STATUS_LINE:
                connection.sendall(bytes([byte]))
                time.sleep(1)
        except OSError:
            pass  # the service gave up on it: what is expected
        finally:
            self._count(-1)
            connection.close()


@contextmanager
def slow_receiver() -> Iterator[SlowReceiver]:
    state = SlowReceiver()
    listener = socket.create_server(("127.0.0.1", 0), backlog=256)
    state.port = listener.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=state.trickle, args=(connection,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield state
    finally:
        listener.close()
