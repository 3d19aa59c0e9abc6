"""A TLS endpoint for PostgreSQL in front of the embedded server, whose build has no SSL ("SSL is
not supported by this build"). It speaks PostgreSQL's side of TLS as a server does (an
SSLRequest answered 'S', then the handshake with its certificate) and relays the protocol
inside to the plaintext server, as RDS Proxy does in front of RDS. Like a pg_hba.conf with only
`hostssl` lines, it refuses a client that starts without TLS."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
import threading
from pathlib import Path

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104


def server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


def _fatal(code: str, message: str) -> bytes:
    """A PostgreSQL ErrorResponse message."""
    fields = b"".join(
        kind + value.encode() + b"\0"
        for kind, value in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", code), (b"M", message))
    )
    return b"E" + struct.pack("!i", 4 + len(fields) + 1) + fields + b"\0"


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


class TlsProxy:
    """`context` (replaceable) is the certificate served to each new connection; `sessions`
    records each client: True when it spoke TLS, False when it was refused for not doing so."""

    def __init__(self, upstream_port: int, context: ssl.SSLContext) -> None:
        self.upstream_port = upstream_port
        self.context = context
        self.sessions: list[bool] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def start(self) -> TlsProxy:
        self._thread.start()
        listening = asyncio.start_server(self._serve, "127.0.0.1", 0)
        self._server = asyncio.run_coroutine_threadsafe(listening, self._loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        server = self._server
        if server is not None:

            async def close() -> None:
                server.close()
                relays = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for relay in relays:  # connections a client's pool still holds
                    relay.cancel()
                await asyncio.gather(*relays, return_exceptions=True)
                await server.wait_closed()

            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: asyncio.StreamWriter | None = None
        try:
            length, code = struct.unpack("!ii", await reader.readexactly(8))
            if (length, code) == (8, GSSENC_REQUEST):  # no GSSAPI here; the client goes on
                writer.write(b"N")
                await writer.drain()
                length, code = struct.unpack("!ii", await reader.readexactly(8))
            if (length, code) != (8, SSL_REQUEST):
                self.sessions.append(False)
                writer.write(_fatal("28000", "no encryption: this server accepts TLS only"))
                await writer.drain()
                return
            writer.write(b"S")
            await writer.drain()
            await writer.start_tls(self.context)
            self.sessions.append(True)
            up_reader, upstream = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            await asyncio.gather(_pump(reader, upstream), _pump(up_reader, writer))
        except (ssl.SSLError, ConnectionError, asyncio.IncompleteReadError):
            pass  # a client that refused our certificate reports it itself
        finally:
            for stream in (writer, upstream):
                if stream is not None:
                    with contextlib.suppress(Exception):
                        stream.close()
