"""TLS to a database whose CA is not in the default trust store (an RDS instance's), for real:
a PostgreSQL of the test's own, reached only through a TLS endpoint (tests/tls_proxy.py: the
wheel's PostgreSQL has no SSL) that serves a certificate from a CA the test makes and refuses
plaintext. With DATABASE_CA_BUNDLE naming that CA, the migration and the repository verify
the chain and the host name; any other CA, or another host's certificate, is refused, never a
silent fall back to plaintext. The server checks the application role's password."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dogdetect.adapters.postgres import PostgresPredictionRepository, make_engine
from dogdetect.config import Settings
from dogdetect.domain.errors import DependencyUnavailable
from dogdetect.runtime.migrate import UPGRADED, Limits, migrate, migrate_from_settings
from sqlalchemy import URL, create_engine, text
from sqlalchemy.exc import DBAPIError

from local.launcher import free_port
from local.postgres import EmbeddedPostgres
from tests.certificates import issue_server_certificate, make_ca
from tests.tls_proxy import TlsProxy, server_context

# Quoted by the server (format %L), carried as it is by a URL object: no escaping anywhere.
APP_PASSWORD = 'p@ss/w\'rd \\ $1 %L "x"'
APP_ROLE = "dogdetect_app"


@dataclass(frozen=True)
class TlsServer:
    proxy: TlsProxy
    ca_bundle: str
    other_ca_bundle: str
    folder: Path

    def url(self, username: str = APP_ROLE, password: str | None = APP_PASSWORD) -> URL:
        return URL.create(
            "postgresql+pg8000",
            username=username,
            password=password,
            host="127.0.0.1",
            port=self.proxy.port,
            database="dogdetect",
        )

    @property
    def master(self) -> URL:
        return self.url("postgres", None)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    folder = tmp_path_factory.mktemp("tls")
    ca = make_ca("dogdetect test database CA")
    cert, key = issue_server_certificate(ca, folder, ["localhost"], ["127.0.0.1"])
    hba = folder / "pg_hba.conf"
    # The master (the migration) trusted, as locally; everyone else must give a password.
    hba.write_text(
        "local all all trust\n"
        "host all postgres 127.0.0.1/32 trust\n"
        "host all all 127.0.0.1/32 scram-sha-256\n"
    )
    postgres = EmbeddedPostgres(folder / "postgres", "127.0.0.1", free_port(), hba_file=hba)
    postgres.start()
    proxy = TlsProxy(postgres.port, server_context(cert, key)).start()
    try:
        tls = TlsServer(
            proxy,
            str(ca.write(folder / "ca.pem")),
            str(make_ca("someone else's CA").write(folder / "other-ca.pem")),
            folder,
        )
        settings = Settings(
            database_url=tls.master.render_as_string(hide_password=False),
            database_tls=True,
            database_ca_bundle=tls.ca_bundle,
            app_database_password=APP_PASSWORD,  # type: ignore[arg-type]
        )
        # The migration itself verifies the server, as the deploy-time custom resource does.
        assert migrate_from_settings(settings, Limits(budget_seconds=60)) == UPGRADED
        yield tls
    finally:
        proxy.stop()
        postgres.stop()


def repository(url: URL, ca_bundle: str | None) -> PostgresPredictionRepository:
    return PostgresPredictionRepository(make_engine(url, tls=True, ca_bundle=ca_bundle))


def ssl_fault(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind `exc`, if any."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def test_the_app_role_works_over_verified_tls(server: TlsServer) -> None:
    before = len(server.proxy.sessions)
    repo = repository(server.url(), server.ca_bundle)
    prediction = repo.add_pending(uuid.uuid4(), "uploads/x")
    assert repo.get(prediction.id) is not None
    engine = make_engine(server.url(), tls=True, ca_bundle=server.ca_bundle)
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT current_user")) == APP_ROLE
    assert server.proxy.sessions[before:] and all(server.proxy.sessions[before:])


def test_the_password_is_checked_and_was_set_as_given(server: TlsServer) -> None:
    repo = repository(server.url(password=APP_PASSWORD + "x"), server.ca_bundle)
    with pytest.raises(DBAPIError) as raised:
        repo.ping()
    assert raised.value.orig.args[0]["C"] == "28P01"  # type: ignore[union-attr]  # bad password


def test_a_certificate_from_another_ca_is_refused(server: TlsServer) -> None:
    with pytest.raises(DependencyUnavailable) as raised:
        repository(server.url(), server.other_ca_bundle).ping()
    assert isinstance(ssl_fault(raised.value), ssl.SSLCertVerificationError), raised.value
    with pytest.raises(ssl.SSLCertVerificationError):
        migrate(server.master, None, tls=True, ca_bundle=server.other_ca_bundle)


def test_without_the_bundle_the_default_store_does_not_trust_it(server: TlsServer) -> None:
    with pytest.raises(DependencyUnavailable) as raised:
        repository(server.url(), None).ping()
    assert isinstance(ssl_fault(raised.value), ssl.SSLCertVerificationError)


def test_a_certificate_for_another_host_is_refused(server: TlsServer) -> None:
    # Signed by a CA the client trusts: only the name is wrong.
    ca = make_ca("another trusted CA")
    cert, key = issue_server_certificate(
        ca, server.folder, ["db.elsewhere.example"], ["10.1.2.3"], stem="elsewhere"
    )
    bundle = str(ca.write(server.folder / "elsewhere-ca.pem"))
    own = server.proxy.context
    server.proxy.context = server_context(cert, key)
    try:
        with pytest.raises(DependencyUnavailable) as raised:
            repository(server.url(), bundle).ping()
    finally:
        server.proxy.context = own
    fault = ssl_fault(raised.value)
    assert isinstance(fault, ssl.SSLCertVerificationError)
    assert "mismatch" in str(fault), fault


def test_the_server_refuses_plaintext(server: TlsServer) -> None:
    plaintext = create_engine(server.master, connect_args={"ssl_context": False})
    with pytest.raises(DBAPIError, match="no encryption"):
        plaintext.connect()
    plaintext.dispose()
    assert server.proxy.sessions[-1] is False
