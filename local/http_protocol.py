"""The local gateway's HTTP/1.1 connection handling: uvicorn's h11 protocol, with what a
managed gateway adds in front of it. Malformed HTTP gets a JSON 400, as every other error; a
client that does not finish a request's headers in time gets a JSON 408 and is closed,
instead of holding a connection open. The same deadline holds for every request on a
keep-alive connection: the first from the connection's start, each later one from the end of
the previous response."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_SECONDS = 5.0
# After a closing answer, what the client still sends is read and dropped this long before
# the socket closes (a lingering close, as nginx's): see LingeringClose.
LINGER_SECONDS = 2.0


class LingeringClose:
    """The connection's transport, whose close() half-closes first: the answer goes out, then
    a FIN; bytes the client still sends (a body it was trickling when it got its 408) are
    dropped for LINGER_SECONDS, then the socket closes. Closed at once with bytes unread, the
    kernel answers them with a reset, which can destroy the answer before the client reads it."""

    def __init__(
        self, transport: asyncio.Transport, linger_seconds: float = LINGER_SECONDS
    ) -> None:
        self._transport = transport
        self._linger_seconds = linger_seconds
        self.lingering = False

    def close(self) -> None:
        if self.lingering or self._transport.is_closing():
            return
        if not self._transport.can_write_eof():
            self._transport.close()
            return
        self.lingering = True
        self._transport.write_eof()  # after what is buffered
        asyncio.get_running_loop().call_later(self._linger_seconds, self._transport.close)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def json_answer(status: int, message: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = json.dumps({"message": message}, separators=(",", ":")).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    return headers, body


class GatewayHttpProtocol(H11Protocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._awaited_after: Any = None  # the cycle answered before the awaited request
        self._bytes_awaited = False  # a part of the awaited request has arrived

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = LingeringClose(transport)  # type: ignore[assignment]
        self._await_request(idle_is_late=True)

    def on_response_complete(self) -> None:
        answered = self.cycle
        super().on_response_complete()
        if not self.transport.is_closing() and self.cycle is answered:
            # No pipelined request began: the next one's headers get the same deadline.
            self._await_request(idle_is_late=False)

    def data_received(self, data: bytes) -> None:
        if isinstance(self.transport, LingeringClose) and self.transport.lingering:
            return  # answered and closing: dropped
        self._bytes_awaited = self._bytes_awaited or bool(data)
        super().data_received(data)
        if self.cycle is not self._awaited_after:
            self._cancel_header_timer()  # the awaited request's headers have all arrived

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _await_request(self, idle_is_late: bool) -> None:
        self._cancel_header_timer()
        self._awaited_after, self._bytes_awaited = self.cycle, False
        loop = asyncio.get_running_loop()
        self._header_timer = loop.call_later(
            HEADER_TIMEOUT_SECONDS, self._headers_too_slow, idle_is_late
        )

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self, idle_is_late: bool) -> None:
        if self.cycle is not self._awaited_after or self.transport.is_closing():
            return
        # An idle keep-alive connection is closed by uvicorn's keep-alive timeout, quietly;
        # one that began a request and did not finish its headers is told why.
        if idle_is_late or self._bytes_awaited:
            self._answer_and_close(408, "Request Timeout")

    def send_400_response(self, msg: str) -> None:
        self._answer_and_close(400, "Bad Request")

    def _answer_and_close(self, status: int, message: str) -> None:
        headers, body = json_answer(status, message)
        # h11 may be in an error state after a malformed request: write the bytes directly.
        head = b"HTTP/1.1 %d %s\r\n" % (status, message.encode())
        head += b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        self.transport.write(head + b"\r\n" + body)
        self.transport.close()
