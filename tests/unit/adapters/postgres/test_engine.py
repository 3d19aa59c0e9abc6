"""How the core connects to PostgreSQL, without a server: TLS verification settings, the
migration's time limits, and the sweep's advisory lock key."""

from __future__ import annotations

import ssl
from pathlib import Path

from dogdetect.adapters.postgres.engine import lock_key, tls_context
from dogdetect.runtime.migrate import Limits
from dogdetect.service.sweep import SWEEP_LOCK

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
