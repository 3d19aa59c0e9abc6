"""SnapStart hooks (runtime/snapstart.py): registered by every handler's init, they prime the
adapters before the snapshot and, after each restore, reseed `random` and drop every
connection the snapshot holds. The registry is passed in (Lambda's is `snapshot_restore_py`)."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from dogdetect.adapters.aws import CLIENT_CONFIG
from dogdetect.config import Settings
from dogdetect.runtime import snapstart
from dogdetect.runtime.composition import Adapters, adapters
from dogdetect.runtime.observability import instrument, observability
from sqlalchemy import event

Hook = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]


@dataclass
class FakeRegistry:
    """Records hooks as `snapshot_restore_py` does, and runs them as Lambda would."""

    before: list[Hook] = field(default_factory=list)
    after: list[Hook] = field(default_factory=list)

    def register_before_snapshot(
        self, func: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Callable[..., Any]:
        self.before.append((func, args, kwargs))
        return func

    def register_after_restore(
        self, func: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Callable[..., Any]:
        self.after.append((func, args, kwargs))
        return func

    def snapshot(self) -> None:
        for func, args, kwargs in reversed(self.before):  # Lambda: reverse registration order
            func(*args, **kwargs)

    def restore(self) -> None:
        for func, args, kwargs in self.after:
            func(*args, **kwargs)


@dataclass
class FakeContainer:
    primed: int = 0
    reopened: int = 0

    def prime(self) -> None:
        self.primed += 1

    def reopen_connections(self) -> None:
        self.reopened += 1


@dataclass
class FakeClient:
    service: str
    calls: list[str] = field(default_factory=list)
    closed: int = 0

    def close(self) -> None:
        self.closed += 1


@dataclass
class FakeClientFactory:
    made: dict[str, FakeClient] = field(default_factory=dict)

    def __call__(self, service: str, endpoint_url: str | None, region: str) -> FakeClient:
        client = self.made[service] = FakeClient(service)
        return client


def test_nothing_runs_when_the_hooks_are_registered() -> None:
    registry, container = FakeRegistry(), FakeContainer()
    snapstart.register_hooks(lambda: container, registry, random.Random(1))
    assert (len(registry.before), len(registry.after)) == (1, 1)
    assert (container.primed, container.reopened) == (0, 0)


def test_before_the_snapshot_the_container_is_primed() -> None:
    registry, container = FakeRegistry(), FakeContainer()
    snapstart.register_hooks(lambda: container, registry, random.Random(1))
    registry.snapshot()
    assert (container.primed, container.reopened) == (1, 0)


def test_after_each_restore_connections_reopen() -> None:
    registry, container = FakeRegistry(), FakeContainer()
    snapstart.register_hooks(lambda: container, registry, random.Random(1))
    registry.snapshot()
    registry.restore()
    registry.restore()
    assert (container.primed, container.reopened) == (1, 2)


def test_copies_restored_from_one_snapshot_draw_different_numbers() -> None:
    snapshotted = random.Random(7).getstate()  # the generator's state in the snapshot
    draws = []
    for _ in range(2):  # two environments restored from it
        generator = random.Random()
        generator.setstate(snapshotted)
        registry = FakeRegistry()
        snapstart.register_hooks(FakeContainer, registry, generator)
        registry.restore()
        draws.append(generator.getrandbits(128))
    stale = random.Random()
    stale.setstate(snapshotted)
    assert draws[0] != draws[1]
    assert stale.getrandbits(128) not in draws


def test_every_handler_registers_its_adapters_hooks() -> None:
    registry = FakeRegistry()
    instrument(lambda event, context: None, observability("test"), adapters, registry)
    assert registry.before == [(snapstart.prime, (adapters,), {})]
    assert registry.after == [(snapstart.restored, (adapters, random), {})]


# ------------------------------------------------------------------ the real adapters


def sqlite_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", **overrides)


def test_priming_makes_the_aws_clients_and_calls_nothing(tmp_path: Path) -> None:
    factory = FakeClientFactory()
    built = Adapters(sqlite_settings(tmp_path), client_factory=factory)
    built.prime()
    assert set(factory.made) == {"s3", "sqs"}
    assert all(c.calls == [] and c.closed == 0 for c in factory.made.values())
    assert built.engines == []  # the database (and its secret) waits for a first request
    assert built.storage._s3 is factory.made["s3"] and built.queue._sqs is factory.made["sqs"]


def test_reopening_drops_the_pool_without_a_word_on_its_sockets(tmp_path: Path) -> None:
    factory = FakeClientFactory()
    built = Adapters(sqlite_settings(tmp_path), client_factory=factory)
    built.repository.ping()
    _ = built.storage, built.queue
    (engine,) = built.engines
    pooled = engine.pool
    assert pooled.checkedin() == 1  # what a snapshot taken now would hold
    opened, closed = [], []
    event.listen(engine, "connect", lambda *_: opened.append(1))
    event.listen(engine, "close", lambda *_: closed.append(1))

    built.reopen_connections()

    assert engine.pool is not pooled and engine.pool.checkedin() == 0
    assert closed == []  # close=False: nothing sent over the snapshot's socket
    assert {s: c.closed for s, c in factory.made.items()} == {"s3": 1, "sqs": 1}
    built.repository.ping()
    assert opened == [1]  # a connection of its own


class _KeepAlive(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keeps connections open, as AWS's endpoints do
    peers: set[tuple[str, int]]

    def do_HEAD(self) -> None:
        self.peers.add(self.client_address)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def keep_alive_endpoint() -> Iterator[tuple[str, set[tuple[str, int]]]]:
    peers: set[tuple[str, int]] = set()
    handler = type("Handler", (_KeepAlive,), {"peers": peers})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", peers
    finally:
        server.shutdown()
        server.server_close()


def signed_client(service: str, endpoint_url: str | None, region: str) -> Any:
    """As aws_client, with credentials of its own (a unit test has none in its environment)."""
    return botocore.session.get_session().create_client(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        config=CLIENT_CONFIG,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def test_aws_calls_after_reopening_use_a_new_connection(
    tmp_path: Path, keep_alive_endpoint: tuple[str, set[tuple[str, int]]]
) -> None:
    endpoint, peers = keep_alive_endpoint
    built = Adapters(
        sqlite_settings(tmp_path, aws_endpoint_url=endpoint), client_factory=signed_client
    )
    built.storage.ping()
    built.storage.ping()
    assert len(peers) == 1  # kept alive: the connection a snapshot would hold
    built.reopen_connections()
    built.storage.ping()
    assert len(peers) == 2
