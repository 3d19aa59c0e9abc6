"""The connection to PostgreSQL: the engine (pg8000, TLS, a small pool, a ping only after
idleness), lone statements that commit as they run, the session-level advisory lock, and
which database errors are an outage."""

from __future__ import annotations

import hashlib
import logging
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

from dogdetect.domain.errors import DependencyUnavailable

# A connection used this recently is taken as alive; one idle longer (a Lambda environment
# frozen between requests) is pinged before use, as pool_pre_ping would. Wall-clock time, as
# pool_recycle's: a frozen or snapshotted environment's monotonic clock may not count the pause.
PING_AFTER_IDLE_SECONDS = 1.0
_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")
logger = logging.getLogger(__name__)


def tls_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """Verify the server's chain and host name against the default trust store (RDS Proxy's
    certificate is public) plus `ca_bundle`, a PEM file (an RDS instance's CA bundle). Given a
    context, pg8000 refuses a server that does not speak TLS instead of falling back."""
    context = ssl.create_default_context()
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


def lock_key(name: str) -> int:
    """A fixed signed 64-bit advisory lock key for a name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def make_engine(
    database_url: str | URL,
    connect_timeout: float = 5.0,
    tls: bool = False,
    credentials: Callable[[], tuple[str, str]] | None = None,
    ca_bundle: str | None = None,
    ping_after_idle_seconds: float = PING_AFTER_IDLE_SECONDS,
) -> Engine:
    connect_args: dict[str, object] = {"timeout": connect_timeout}
    if tls:
        connect_args["ssl_context"] = tls_context(ca_bundle)
    # One small pool per container: Lambda runs one request at a time per container.
    engine = create_engine(
        database_url,
        pool_size=2,
        max_overflow=8,
        pool_pre_ping=False,  # _ping_when_idle instead
        pool_recycle=300,
        connect_args=connect_args,
    )
    _ping_when_idle(engine, ping_after_idle_seconds)
    if credentials is not None:
        fresh = credentials

        @event.listens_for(engine, "do_connect")
        def _current_credentials(
            _dialect: object, _record: object, _args: object, params: dict[str, object]
        ) -> None:
            params["user"], params["password"] = fresh()

    return engine


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """pool_pre_ping's check, for connections idle a while only, and outside a transaction:
    the built-in one pings at every checkout, a BEGIN and a `;` (two round trips)."""

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _idle_from_now(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.time()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        if time.time() - record.info.get("idle_since", 0.0) < idle_seconds:
            return
        try:
            with autocommit(dbapi_connection):
                engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("the pooled connection is gone") from exc  # a new one


@contextmanager
def autocommit(dbapi_connection: Any) -> Iterator[None]:
    """A lone statement commits as it runs: pg8000 would spend a round trip on BEGIN and
    three on COMMIT. The connection goes back to the pool in transaction mode."""
    dbapi_connection.autocommit = True
    try:
        yield
    finally:
        dbapi_connection.autocommit = False


# SQLSTATE classes of a server that cannot serve now, which pg8000 reports as a plain
# DatabaseError: connection exceptions (08), insufficient resources (53: "too many clients",
# out of memory, disk full), operator intervention (57P: shutting down, starting up).
_UNAVAILABLE_STATES = ("08", "53", "57P")


@contextmanager
def database_errors() -> Iterator[None]:
    try:
        yield
    except DBAPIError as exc:
        # Connection faults are the dependency's; constraint or SQL errors are our bugs.
        if (
            isinstance(exc, (OperationalError, InterfaceError))
            or exc.connection_invalidated
            or sqlstate(exc).startswith(_UNAVAILABLE_STATES)
        ):
            raise DependencyUnavailable("database") from exc
        raise
    except (OSError, ConnectionError) as exc:
        raise DependencyUnavailable("database") from exc


def sqlstate(exc: DBAPIError) -> str:
    """The server's SQLSTATE for a DB-API error ("" when it sent none): pg8000 carries the
    server's error fields as a dict, its code under "C"."""
    fields = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
    return str(fields.get("C", "")) if isinstance(fields, dict) else ""


@contextmanager
def advisory_lock(engine: Engine, name: str) -> Iterator[bool]:
    """A session-level advisory lock, taken and released on one connection that keeps a
    transaction open for the block: RDS Proxy may hand a connection's next transaction to
    another backend, and the unlock would then miss the one holding the lock. A dropped
    connection (a timed-out Lambda) ends the session, which releases the lock. The block gets
    False (and holds nothing) when another session has it."""
    key = lock_key(name)
    with database_errors():
        connection = engine.connect()
        try:
            acquired = bool(connection.scalar(_TRY_LOCK, {"key": key}))
        except BaseException:
            connection.close()
            raise
    try:
        yield acquired
    finally:
        _release(connection, key, name, acquired)


def _release(connection: Connection, key: int, name: str, acquired: bool) -> None:
    """Unlock and return the connection; never raise over the block's own outcome."""
    try:
        if acquired and not connection.scalar(_UNLOCK, {"key": key}):
            logger.warning("advisory lock %r was no longer held", name)
    except (DBAPIError, OSError):
        logger.warning("could not unlock %r; closing the connection releases it", name)
        connection.invalidate()
    finally:
        connection.close()
