"""A TCP proxy on 127.0.0.1 delaying every chunk it forwards, each way, by a fixed time (a
latency, not a bandwidth limit): the local AWS endpoint as if a network hop away."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

HOST = "127.0.0.1"
CHUNK = 65536


@dataclass(frozen=True)
class Proxy:
    port: int
    delay_s: float

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Forward `reader` to `writer`, each chunk `delay` seconds after it was read."""
    loop = asyncio.get_running_loop()
    due: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            at, data = await due.get()
            if not data:
                break
            await asyncio.sleep(max(0.0, at - loop.time()))
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(deliver())
    try:
        while data := await reader.read(CHUNK):
            due.put_nowait((loop.time() + delay, data))
    finally:
        due.put_nowait((loop.time() + delay, b""))
        with contextlib.suppress(ConnectionError):
            await sender
            if writer.can_write_eof():
                writer.write_eof()  # a half-close passes on: the other way may still talk


async def _serve(
    target_port: int, delay: float, started: asyncio.Future[int], stop: asyncio.Event
) -> None:
    open_connections: set[asyncio.Task[None]] = set()

    async def forward(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(HOST, target_port)
        except OSError:
            client_w.close()
            return
        try:
            await asyncio.gather(_pipe(client_r, server_w, delay), _pipe(server_r, client_w, delay))
        except ConnectionError:
            pass
        finally:
            server_w.close()
            client_w.close()

    async def connection(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        open_connections.add(task)
        try:
            await forward(client_r, client_w)
        except asyncio.CancelledError:
            pass  # the proxy is stopping: a kept-alive connection ends here
        finally:
            open_connections.discard(task)

    server = await asyncio.start_server(connection, HOST, 0)
    started.set_result(server.sockets[0].getsockname()[1])
    await stop.wait()
    server.close()
    for task in list(open_connections):  # kept-alive client connections
        task.cancel()
    await asyncio.gather(*open_connections, return_exceptions=True)


@contextmanager
def delayed(target_port: int, delay_s: float) -> Iterator[Proxy]:
    """A proxy to 127.0.0.1:`target_port` on a free port, for the duration of the block."""
    loop = asyncio.new_event_loop()
    started: asyncio.Future[int] = loop.create_future()
    stop = asyncio.Event()
    thread = threading.Thread(
        target=loop.run_until_complete,
        args=(_serve(target_port, delay_s, started, stop),),
        daemon=True,
    )
    thread.start()
    port = asyncio.run_coroutine_threadsafe(_wrap(started), loop).result(timeout=10)
    try:
        yield Proxy(port, delay_s)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()


async def _wrap(future: asyncio.Future[int]) -> int:
    return await future
