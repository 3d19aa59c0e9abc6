"""End-to-end fixtures shared by more than one module: the honest webhook receiver, and
headless Chromium (the page's and /docs' tests)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from selenium import webdriver

from tests.browser import Chromium, ensure_chromium, headless


@dataclass(frozen=True)
class Delivery:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next status of `answers` (the last one repeats)."""

    answers: list[int]
    deliveries: list[Delivery] = field(default_factory=list)
    port: int = 0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(answers=[500, 200])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.deliveries.append(Delivery(time.monotonic(), self.path, headers, body))
            status = state.answers[min(len(state.deliveries), len(state.answers)) - 1]
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def chromium() -> Chromium:
    """Headless Chromium and its driver (tests/browser.py), found or installed once."""
    return ensure_chromium()


@pytest.fixture
def browser(chromium: Chromium, tmp_path: Path) -> Iterator[webdriver.Chrome]:
    with headless(chromium, tmp_path) as driver:
        yield driver
