"""One webhook delivery attempt against servers of the test's own on loopback addresses (no
stack needed): the SSRF guard after resolution (names resolved by an injected resolver), the
connection to the checked address itself, TLS to the host's name, no redirects, and every
step bounded in time."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from dogdetect.adapters.webhook_sender import Timeouts, WebhookClient

from tests.certificates import issue_server_certificate, make_ca

BODY = b'{"status":"DONE"}'
HEADERS = {"webhook-id": "msg_1", "webhook-timestamp": "1700000000", "webhook-signature": "v1,x"}
QUICK = Timeouts(resolve=0.5, connect=0.5, read=0.5, total=1.0)


@dataclass
class Seen:
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)


@contextmanager
def receiver(
    status: int = 200,
    host: str = "127.0.0.1",
    extra_headers: dict[str, str] | None = None,
    tls: ssl.SSLContext | None = None,
) -> Iterator[tuple[int, Seen]]:
    """An HTTP(S) server answering every POST with `status`; what it saw."""
    seen = Seen()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            body = self.rfile.read(length)
            seen.requests.append((self.command, self.path, dict(self.headers), body))
            self.send_response(status)
            for name, value in (extra_headers or {}).items():
                self.send_header(name, value)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def raw_server(behave: Callable[[socket.socket], None]) -> Iterator[int]:
    """A TCP server on 127.0.0.1 that runs `behave` on each connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    stopping = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stopping.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=behave, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stopping.set()
        thread.join(2)
        listener.close()


class Resolver:
    """Names -> addresses, as DNS would answer; counts the questions."""

    def __init__(self, answers: dict[str, Sequence[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answers[host]


def client(
    answers: dict[str, Sequence[str]], allow_loopback: bool = True, **kw: object
) -> WebhookClient:
    return WebhookClient(allow_loopback=allow_loopback, resolver=Resolver(answers), **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------ the guard, after resolution


@pytest.mark.parametrize(
    ("addresses", "named"),
    [
        (["10.0.0.5"], "private"),
        (["93.184.215.14", "10.0.0.5"], "private"),  # one bad address is enough
        (["169.254.169.254"], "metadata"),
        (["fd00:ec2::254"], "metadata"),
        (["::ffff:169.254.169.254"], "metadata"),
        (["::ffff:192.168.1.1"], "private"),
        (["127.0.0.1"], "loopback"),  # in the cloud: loopback is not allowed
        (["::1"], "loopback"),
        (["0.0.0.0"], "unspecified"),
        (["fe80::1%eth0"], "link-local"),
        (["fec0::1"], "site-local"),  # ipaddress calls these global on 3.11 and 3.13
        (["fec0::a9fe:a9fe"], "site-local"),
        (["3fff::1"], "documentation"),
    ],
)
def test_a_name_resolving_to_a_forbidden_address_is_refused(
    addresses: list[str], named: str
) -> None:
    hooks = client({"hooks.example.com": addresses}, allow_loopback=False)
    attempt = hooks.post("https://hooks.example.com/x", BODY, HEADERS)
    assert not attempt.delivered
    assert attempt.detail.startswith("refused") and named in attempt.detail
    assert hooks.resolver.asked == ["hooks.example.com"]  # type: ignore[attr-defined]


def test_loopback_allowed_locally_still_refuses_private_names() -> None:
    hooks = client({"hooks.example.com": ["192.168.0.7"]}, allow_loopback=True)
    assert "private" in hooks.post("https://hooks.example.com/", BODY, HEADERS).detail


def test_a_refused_loopback_server_is_never_contacted() -> None:
    with receiver() as (port, seen):
        hooks = client({"hooks.example.com": ["127.0.0.1"]}, allow_loopback=False)
        attempt = hooks.post(f"https://hooks.example.com:{port}/x", BODY, HEADERS)
    assert "loopback" in attempt.detail and seen.requests == []


def test_an_invalid_url_is_refused_before_anything_is_resolved() -> None:
    hooks = client({})
    attempt = hooks.post("https://user@hooks.example.com/", BODY, HEADERS)
    assert attempt.detail.startswith("refused") and hooks.resolver.asked == []  # type: ignore[attr-defined]


def test_a_name_that_does_not_resolve_fails_the_try() -> None:
    attempt = client({}).post("https://nowhere.example.com/", BODY, HEADERS)
    assert not attempt.delivered and "did not resolve" in attempt.detail


# ------------------------------------------------------------------ the request


def test_the_post_goes_to_the_checked_address_with_the_names_host_header() -> None:
    """The injected resolver says 127.0.0.2, where the server listens; the system's would say
    127.0.0.1, where nothing does: had the HTTP client resolved the name again (where DNS
    could answer differently than when it was checked), the try would have failed."""
    with receiver(host="127.0.0.2") as (port, seen):
        hooks = client({"localhost": ["127.0.0.2"]})
        attempt = hooks.post(f"http://localhost:{port}/dogs?token=t", BODY, HEADERS)
    assert attempt.delivered and attempt.status == 200 and attempt.detail == "HTTP 200"
    ((method, path, headers, body),) = seen.requests
    assert (method, path, body) == ("POST", "/dogs?token=t", BODY)
    assert headers["Host"] == f"localhost:{port}"
    assert headers["Content-Type"] == "application/json"
    assert {k: headers[k] for k in HEADERS} == HEADERS
    assert hooks.resolver.asked == ["localhost"]  # type: ignore[attr-defined]


def test_the_next_address_is_tried_when_one_refuses_the_connection() -> None:
    with receiver(host="127.0.0.2") as (port, seen):
        hooks = client({"localhost": ["127.0.0.1", "127.0.0.2"]})  # nothing on .1:port
        attempt = hooks.post(f"http://localhost:{port}/", BODY, HEADERS)
    assert attempt.delivered and len(seen.requests) == 1


def test_nothing_listening_fails_the_try() -> None:
    with receiver() as (port, _):
        pass  # closed again: nothing listens there now
    attempt = client({}).post(f"http://127.0.0.1:{port}/", BODY, HEADERS)
    assert not attempt.delivered and "connection refused" in attempt.detail


@pytest.mark.parametrize("status", [500, 404, 410, 429, 301, 302, 307, 308])
def test_only_a_2xx_is_delivered_and_no_redirect_is_followed(status: int) -> None:
    with receiver() as (other_port, elsewhere):
        location = {"Location": f"http://127.0.0.1:{other_port}/elsewhere"}
        with receiver(status, extra_headers=location) as (port, seen):
            hooks = client({})
            attempt = hooks.post(f"http://127.0.0.1:{port}/", BODY, HEADERS)
    assert not attempt.delivered and attempt.detail == f"HTTP {status}"
    assert len(seen.requests) == 1 and elsewhere.requests == []


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_any_2xx_is_delivered(status: int) -> None:
    with receiver(status) as (port, _):
        assert client({}).post(f"http://127.0.0.1:{port}/", BODY, HEADERS).delivered


# ------------------------------------------------------------------ bounded in time


def silent(connection: socket.socket) -> None:
    time.sleep(5)
    connection.close()


def trickling(connection: socket.socket) -> None:
    """A status line, then a header byte every 0.2 s: each read succeeds in time."""
    try:
        connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        for _ in range(50):
            time.sleep(0.2)
            connection.sendall(b"a")
    except OSError:
        pass
    finally:
        connection.close()


def endless_body(connection: socket.socket) -> None:
    try:
        connection.recv(65536)
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n")
        time.sleep(5)
    finally:
        connection.close()


@pytest.mark.parametrize("behave", [silent, trickling], ids=["silent", "trickling"])
def test_a_server_that_does_not_answer_in_time_fails_the_try(
    behave: Callable[[socket.socket], None],
) -> None:
    with raw_server(behave) as port:
        started = time.monotonic()
        attempt = client({}, timeouts=QUICK).post(f"http://127.0.0.1:{port}/", BODY, HEADERS)
        took = time.monotonic() - started
    assert not attempt.delivered
    assert "timed out" in attempt.detail or "no answer within" in attempt.detail
    assert took < QUICK.total + 1.0


def test_the_answers_body_is_never_read() -> None:
    """A 2xx with an endless body is delivered at once: only the status line counts."""
    with raw_server(endless_body) as port:
        started = time.monotonic()
        attempt = client({}, timeouts=QUICK).post(f"http://127.0.0.1:{port}/", BODY, HEADERS)
        assert attempt.delivered and time.monotonic() - started < QUICK.total


def test_a_resolver_that_hangs_fails_the_try_in_time() -> None:
    def hanging(host: str, port: int) -> Sequence[str]:
        time.sleep(3)
        return ["93.184.215.14"]

    hooks = WebhookClient(resolver=hanging, timeouts=QUICK)
    started = time.monotonic()
    attempt = hooks.post("https://hooks.example.com/", BODY, HEADERS)
    assert "did not resolve in time" in attempt.detail
    assert time.monotonic() - started < QUICK.resolve + 0.5


# ------------------------------------------------------------------ TLS to the host's name


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    ca = make_ca("webhook test CA")
    return ca, ca.write(tmp_path_factory.mktemp("ca") / "ca.pem")


def server_context(authority: tuple[object, Path], folder: Path, name: str) -> ssl.SSLContext:
    ca, _ = authority
    cert, key = issue_server_certificate(ca, folder, [name], [], stem=name)  # type: ignore[arg-type]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def test_https_verifies_the_hosts_certificate_by_its_name(
    authority: tuple[object, Path], tmp_path: Path
) -> None:
    context = server_context(authority, tmp_path, "hooks.test")
    names: list[str | None] = []
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)  # type: ignore[assignment,misc]
    trust = ssl.create_default_context(cafile=str(authority[1]))
    with receiver(tls=context) as (port, seen):
        hooks = client({"hooks.test": ["127.0.0.1"]}, tls=trust)
        attempt = hooks.post(f"https://hooks.test:{port}/x", BODY, HEADERS)
    assert attempt.delivered, attempt.detail
    assert names == ["hooks.test"]  # SNI: the name, not the address connected to
    assert seen.requests[0][2]["Host"] == f"hooks.test:{port}"


def test_https_refuses_a_certificate_for_another_name(
    authority: tuple[object, Path], tmp_path: Path
) -> None:
    context = server_context(authority, tmp_path, "other.test")
    trust = ssl.create_default_context(cafile=str(authority[1]))
    with receiver(tls=context) as (port, seen):
        hooks = client({"hooks.test": ["127.0.0.1"]}, tls=trust)
        attempt = hooks.post(f"https://hooks.test:{port}/x", BODY, HEADERS)
    assert not attempt.delivered and "TLS certificate" in attempt.detail
    assert seen.requests == []


def test_https_refuses_a_certificate_of_an_unknown_authority(
    authority: tuple[object, Path], tmp_path: Path
) -> None:
    context = server_context(authority, tmp_path, "hooks.test")
    with receiver(tls=context) as (port, seen):
        hooks = client({"hooks.test": ["127.0.0.1"]})  # the default trust store only
        attempt = hooks.post(f"https://hooks.test:{port}/x", BODY, HEADERS)
    assert not attempt.delivered and seen.requests == []


# ------------------------------------------------------------------ resolution within the deadline


class HangingResolver(Resolver):
    """As Resolver, but the names in `hanging` never answer until `release` is set."""

    def __init__(self, answers: dict[str, Sequence[str]], hanging: set[str]) -> None:
        super().__init__(answers)
        self.hanging = hanging
        self.release = threading.Event()

    def __call__(self, host: str, port: int) -> Sequence[str]:
        if host in self.hanging:
            self.release.wait(120)
        return super().__call__(host, port)


def test_names_that_never_resolve_block_no_other_name(
    authority: tuple[object, Path], tmp_path: Path
) -> None:
    """The probe's case: two slow names held the 2-thread resolver pool, and a third, honest
    name then failed "did not resolve in time"."""
    context = server_context(authority, tmp_path, "hooks.test")
    trust = ssl.create_default_context(cafile=str(authority[1]))
    with receiver(tls=context) as (port, seen):
        dns = HangingResolver({"hooks.test": ["127.0.0.1"]}, {"slow-1.test", "slow-2.test"})
        hooks = WebhookClient(allow_loopback=True, resolver=dns, timeouts=QUICK, tls=trust)
        try:
            for slow in ("slow-1.test", "slow-2.test", "slow-1.test"):
                attempt = hooks.post(f"https://{slow}:{port}/x", BODY, HEADERS)
                assert attempt.detail == "the host name did not resolve in time"
            honest = hooks.post(f"https://hooks.test:{port}/x", BODY, HEADERS)
            assert honest.delivered, honest.detail  # while the three lookups still hang
            assert len(seen.requests) == 1
        finally:
            dns.release.set()


def test_the_attempts_deadline_covers_resolving() -> None:
    """A resolve timeout longer than the whole attempt's: the attempt still ends at its own
    deadline (1 s here), not the resolver's (60 s)."""
    dns = HangingResolver({}, {"slow.example.com"})
    hooks = WebhookClient(
        allow_loopback=True,
        resolver=dns,
        timeouts=Timeouts(resolve=60, connect=0.5, read=0.5, total=1.0),
    )
    started = time.monotonic()
    try:
        attempt = hooks.post("https://slow.example.com:8443/x", BODY, HEADERS)
    finally:
        dns.release.set()
    assert not attempt.delivered and "did not resolve in time" in attempt.detail
    assert time.monotonic() - started < 30  # the attempt's 1 s, far from the resolver's 60 s


@contextmanager
def dropping_addresses(count: int) -> Iterator[tuple[list[str], int]]:
    """`count` loopback addresses, one port, where every new connection hangs: each listener's
    backlog is full and never accepted, so the kernel drops further SYNs, as a host that drops
    packets does."""
    addresses = [f"127.0.0.{n}" for n in range(2, 2 + count)]
    opened: list[socket.socket] = []
    try:
        port = 0
        for address in addresses:
            listener = socket.socket()
            listener.bind((address, port))
            listener.listen(0)
            port = listener.getsockname()[1]
            opened.append(listener)
            for _ in range(4):  # fill its queue
                filler = socket.socket()
                filler.setblocking(False)
                filler.connect_ex((address, port))
                opened.append(filler)
        yield addresses, port
    finally:
        for sock in opened:
            sock.close()


def test_eight_addresses_that_drop_connections_end_the_try_at_its_deadline() -> None:
    """The probe's case: a name resolving to 8 addresses that drop connections took 24 s (a
    connect timeout after another) while logging "no answer within 10 s". Here connects of
    5 s each, a try of 1 s: one connect after another would take 40 s."""
    with dropping_addresses(8) as (addresses, port):
        hooks = client(
            {"drops.test": addresses},
            timeouts=Timeouts(resolve=0.5, connect=5, read=0.5, total=1.0),
        )
        started = time.monotonic()
        attempt = hooks.post(f"https://drops.test:{port}/x", BODY, HEADERS)
        took = time.monotonic() - started
    assert not attempt.delivered  # ended by the try's deadline, wherever it struck:
    assert "timed out" in attempt.detail or "no answer within 1 s" in attempt.detail
    assert took < 20  # the try's own 1 s, far from 8 x 5 s
