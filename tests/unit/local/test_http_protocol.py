"""The gateway's lingering close (local/http_protocol.py): an answer, then a FIN, what the
client still sends dropped for a while, then the socket closed; on a fake transport."""

from __future__ import annotations

import asyncio
from typing import Any

from local.http_protocol import LingeringClose

LINGER_S = 0.01  # asyncio runs the close before a longer sleep ends, however busy the machine


class Transport:
    """What LingeringClose uses of an asyncio transport, recording the calls."""

    def __init__(self, can_write_eof: bool = True) -> None:
        self.calls: list[str] = []
        self._can_write_eof = can_write_eof
        self.closed = False

    def can_write_eof(self) -> bool:
        return self._can_write_eof

    def write_eof(self) -> None:
        self.calls.append("write_eof")

    def close(self) -> None:
        self.calls.append("close")
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 5000) if name == "peername" else None


def _run(transport: Transport, closes: int = 1) -> tuple[list[str], list[str], bool]:
    """The calls right after close() (nothing awaited yet), after the linger, and whether it
    said it was closing in between."""

    async def scenario() -> tuple[list[str], list[str], bool]:
        lingering = LingeringClose(transport, linger_seconds=LINGER_S)  # type: ignore[arg-type]
        for _ in range(closes):
            lingering.close()
        at_once, closing = list(transport.calls), lingering.is_closing()
        await asyncio.sleep(LINGER_S * 20)
        return at_once, list(transport.calls), closing

    return asyncio.run(scenario())


def test_close_half_closes_then_closes_after_the_linger() -> None:
    at_once, later, closing = _run(Transport())
    assert at_once == ["write_eof"] and closing
    assert later == ["write_eof", "close"]


def test_closing_twice_closes_once() -> None:
    assert _run(Transport(), closes=2)[1] == ["write_eof", "close"]


def test_a_transport_that_cannot_half_close_closes_at_once() -> None:
    at_once, later, _ = _run(Transport(can_write_eof=False))
    assert at_once == ["close"] and later == ["close"]


def test_everything_else_is_the_transport_s() -> None:
    lingering = LingeringClose(Transport())  # type: ignore[arg-type]
    assert lingering.get_extra_info("peername") == ("127.0.0.1", 5000)
