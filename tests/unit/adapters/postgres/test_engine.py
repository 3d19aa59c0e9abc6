"""How the core connects to PostgreSQL, without a server: TLS verification settings, the
migration's time limits, the sweep's advisory lock key, and which errors are an outage."""

from __future__ import annotations

import ssl
from pathlib import Path

import pg8000.exceptions
import pytest
from dogdetect.adapters.postgres.engine import database_errors, lock_key, tls_context
from dogdetect.domain.errors import DependencyUnavailable
from dogdetect.runtime.migrate import Limits
from dogdetect.service.sweep import SWEEP_LOCK
from sqlalchemy.exc import DBAPIError

from tests.certificates import make_ca


def test_tls_verifies_the_chain_and_the_host_name() -> None:
    context = tls_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname


def test_the_ca_bundle_is_trusted_besides_the_default_store(tmp_path: Path) -> None:
    bundle = make_ca("Test RDS Root CA").write(tmp_path / "bundle.pem")
    default_count = tls_context().cert_store_stats()["x509_ca"]
    context = tls_context(str(bundle))
    assert {"commonName": "Test RDS Root CA"} in [
        dict(part[0] for part in ca["subject"]) for ca in context.get_ca_certs()
    ]
    assert context.cert_store_stats()["x509_ca"] == default_count + 1
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname


def test_the_migration_bounds_statements_locks_and_abandoned_transactions() -> None:
    assert Limits(budget_seconds=12.5).server_settings == {
        "statement_timeout": "12500",
        "lock_timeout": "12500",
        "idle_in_transaction_session_timeout": "12500",
    }
    assert Limits().server_settings == {}


def test_the_sweep_lock_key_is_fixed() -> None:
    assert lock_key(SWEEP_LOCK) == lock_key("dogdetect.sweep")
    assert lock_key(SWEEP_LOCK) != lock_key("another lock")
    assert -(2**63) <= lock_key(SWEEP_LOCK) < 2**63


def _server_error(code: str, message: str) -> DBAPIError:
    """What SQLAlchemy raises over pg8000 for an error the server sent (its fields)."""
    fields = {"S": "FATAL", "C": code, "M": message}
    error: DBAPIError = DBAPIError.instance(
        "SELECT 1", None, pg8000.exceptions.DatabaseError(fields), pg8000.exceptions.Error
    )
    return error


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("53300", "sorry, too many clients already"),
        ("53300", 'too many connections for role "dogdetect_app"'),
        ("57P03", "the database system is starting up"),
        ("08006", "connection failure"),
    ],
)
def test_a_server_that_cannot_serve_now_is_an_outage(code: str, message: str) -> None:
    with pytest.raises(DependencyUnavailable), database_errors():
        raise _server_error(code, message)


def test_a_statement_the_server_refuses_is_not_an_outage() -> None:
    with pytest.raises(DBAPIError), database_errors():
        raise _server_error("23505", "duplicate key value violates unique constraint")
