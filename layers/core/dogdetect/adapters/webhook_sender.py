"""One webhook delivery attempt: resolve the host, refuse it unless every address it gives is
public (`addresses`), connect to a checked address itself (so DNS cannot answer differently
between the check and the connection), speak TLS to the host's name (SNI and certificate),
POST, and read the status line and headers only. No redirect is followed: a 3xx is a failure,
as every answer but a 2xx is. Every step is bounded: a few seconds to resolve and connect, a
few for each read, and a deadline on the whole attempt, resolution and every connect included,
that neither a slow resolver nor a trickling server can move. Each lookup runs on a thread of
its own, abandoned past its time: a name that never resolves blocks no other name."""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType

from dogdetect.domain.errors import InvalidWebhook
from dogdetect.domain.notifications import DeliveryAttempt as Attempt
from dogdetect.domain.webhooks.addresses import parse_address, refusal
from dogdetect.domain.webhooks.urls import WebhookTarget, parse_webhook_url

USER_AGENT = "dog-detector-webhooks/1"
Resolver = Callable[[str, int], Sequence[str]]
# Lookups still running at once, abandoned ones included: past it an attempt fails at once
# ("the resolver is busy") rather than adding a thread (each holds a little memory).
MAX_LOOKUPS = 32
_LOOKUPS = threading.BoundedSemaphore(MAX_LOOKUPS)


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system's resolver gives for `host`, in its order, once each."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Timeouts:
    resolve: float = 3.0
    connect: float = 3.0
    read: float = 5.0  # each read of the answer
    total: float = 10.0  # the whole attempt, whatever the server does


@dataclass
class WebhookClient:
    allow_loopback: bool = False  # the local stack's ALLOW_HTTP_WEBHOOKS
    resolver: Resolver = system_resolver
    timeouts: Timeouts = field(default_factory=Timeouts)
    tls: ssl.SSLContext = field(default_factory=ssl.create_default_context)

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Attempt:
        try:
            target = parse_webhook_url(url, self.allow_loopback)
        except InvalidWebhook as exc:
            return Attempt(False, f"refused: {exc.detail}")
        with _Deadline(self.timeouts.total) as deadline:
            addresses = self._addresses(target, deadline)
            if isinstance(addresses, Attempt):
                return addresses
            try:
                return self._post(target, addresses, body, headers, deadline)
            except (OSError, http.client.HTTPException) as exc:
                if deadline.expired:
                    return Attempt(False, f"no answer within {self.timeouts.total:g} s")
                return Attempt(False, f"failed: {_describe(exc)}")

    def _addresses(self, target: WebhookTarget, deadline: _Deadline) -> list[str] | Attempt:
        """The host's addresses when every one of them may be reached, else why not."""
        literal = parse_address(target.host)
        if literal is not None:
            found = [str(literal)]
        else:
            seconds = min(self.timeouts.resolve, deadline.remaining())
            try:
                found = _resolve(self.resolver, target.host, target.port, seconds)
            except _ResolverBusy:
                return Attempt(False, "the resolver is busy with other names; tried again later")
            except TimeoutError:
                return Attempt(False, "the host name did not resolve in time")
            except OSError:
                return Attempt(False, "the host name did not resolve")
        if not found:
            return Attempt(False, "the host name did not resolve")
        for text in found:
            address = parse_address(text.split("%", 1)[0])  # an IPv6 zone is never public
            if address is None:
                return Attempt(False, "refused: the host resolves to something not an address")
            reason = refusal(address, self.allow_loopback)
            if reason is not None:
                return Attempt(False, f"refused: the host resolves to {reason}")
        return found

    def _post(
        self,
        target: WebhookTarget,
        addresses: Sequence[str],
        body: bytes,
        headers: Mapping[str, str],
        deadline: _Deadline,
    ) -> Attempt:
        connection = self._connect(target, addresses, deadline)
        try:
            connection.request(
                "POST",
                target.target,
                body=body,
                headers={"User-Agent": USER_AGENT, "Content-Type": "application/json", **headers},
            )
            status = connection.getresponse().status  # the body is never read
        finally:
            connection.close()
        if deadline.expired:  # the headers were cut short by the deadline, not ended
            return Attempt(False, f"no answer within {self.timeouts.total:g} s")
        return Attempt(200 <= status <= 299, f"HTTP {status}", status)

    def _connect(
        self, target: WebhookTarget, addresses: Sequence[str], deadline: _Deadline
    ) -> http.client.HTTPConnection:
        """A connection to the first checked address that accepts one; the Host header and
        TLS (SNI, certificate) are the URL's host name, never the address."""
        failure: OSError | None = None
        for address in addresses:
            left = deadline.remaining()
            if left <= 0:  # every connect comes out of the attempt's time
                raise TimeoutError("the attempt's time is up")
            try:
                seconds = min(self.timeouts.connect, left)
                sock = socket.create_connection((address, target.port), seconds)
            except OSError as exc:
                failure = exc
                continue
            deadline.watch(sock)
            sock.settimeout(self.timeouts.read)
            connection: http.client.HTTPConnection
            if target.scheme == "https":
                sock = self.tls.wrap_socket(sock, server_hostname=target.host)
                deadline.watch(sock)
                connection = http.client.HTTPSConnection(target.host, target.port, context=self.tls)
            else:
                connection = http.client.HTTPConnection(target.host, target.port)
            connection.sock = sock  # already connected: http.client never resolves the name
            return connection
        assert failure is not None
        raise failure


class _ResolverBusy(Exception):
    pass


def _resolve(resolver: Resolver, host: str, port: int, seconds: float) -> list[str]:
    """`resolver`'s answer within `seconds`, on a thread of its own: past the time the lookup
    is abandoned (a daemon thread, finishing or not on its own) and holds up nothing else."""
    if not _LOOKUPS.acquire(blocking=False):
        raise _ResolverBusy
    outcome: dict[str, object] = {}

    def look_up() -> None:
        try:
            outcome["found"] = list(resolver(host, port))
        except OSError as exc:
            outcome["error"] = exc
        finally:
            _LOOKUPS.release()

    thread = threading.Thread(target=look_up, name="webhook-dns", daemon=True)
    thread.start()
    thread.join(max(seconds, 0))
    if thread.is_alive():
        raise TimeoutError
    error = outcome.get("error")
    if isinstance(error, OSError):
        raise error
    found = outcome.get("found")
    return list(found) if isinstance(found, list) else []


class _Deadline:
    """Shuts the attempt's socket down when the time is up: each read has its own timeout,
    but a server sending a byte now and then would reset it forever."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._ends = time.monotonic() + seconds
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._timer.cancel()

    def remaining(self) -> float:
        return self._ends - time.monotonic()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._socket = sock
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._socket is not None:
                _shut(self._socket)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not valid for the host ({exc.verify_message})"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError | http.client.RemoteDisconnected):
        return "the connection was closed without an answer"
    return type(exc).__name__
