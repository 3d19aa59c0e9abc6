"""PostgreSQL repository through SQLAlchemy 2 and pg8000. Every state change is one
conditional UPDATE, so concurrent workers and redeliveries cannot corrupt a row."""

from __future__ import annotations

import hashlib
import logging
import ssl
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import (
    URL,
    Connection,
    Engine,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from dogdetect.adapters.tables import DetectionRow, PredictionRow
from dogdetect.errors import DependencyUnavailable
from dogdetect.models import Box, Detection, Prediction, Status

T = TypeVar("T")
_ACTIVE = (Status.PENDING.value, Status.PROCESSING.value)
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
) -> Engine:
    connect_args: dict[str, object] = {"timeout": connect_timeout}
    if tls:
        connect_args["ssl_context"] = tls_context(ca_bundle)
    # One small pool per container: Lambda runs one request at a time per container.
    engine = create_engine(
        database_url,
        pool_size=2,
        max_overflow=8,
        pool_pre_ping=True,
        pool_recycle=300,
        connect_args=connect_args,
    )
    if credentials is not None:
        fresh = credentials

        @event.listens_for(engine, "do_connect")
        def _current_credentials(
            _dialect: object, _record: object, _args: object, params: dict[str, object]
        ) -> None:
            params["user"], params["password"] = fresh()

    return engine


class PostgresPredictionRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with _database_errors(), self._sessions.begin() as session:
            yield session

    def _run(self, work: Callable[[Session], T]) -> T:
        with self._session() as session:
            return work(session)

    def ping(self) -> None:
        self._run(lambda s: s.execute(text("SELECT 1")))

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """A session-level advisory lock, taken and released on one connection that keeps a
        transaction open for the block: RDS Proxy may hand a connection's next transaction to
        another backend, and the unlock would then miss the one holding the lock. A dropped
        connection (a timed-out Lambda) ends the session, which releases the lock."""
        key = lock_key(name)
        with _database_errors():
            connection = self._engine.connect()
            try:
                acquired = bool(connection.scalar(_TRY_LOCK, {"key": key}))
            except BaseException:
                connection.close()
                raise
        try:
            yield acquired
        finally:
            _release(connection, key, name, acquired)

    def fail_stuck(self, older_than_seconds: int, reason: str, limit: int) -> int:
        cutoff = func.now() - timedelta(seconds=older_than_seconds)
        stuck = (
            select(PredictionRow.id)
            .where(
                PredictionRow.status.in_(_ACTIVE),
                # unchanged since both its last step and its (re)queueing by the sweeper
                PredictionRow.updated_at < cutoff,
                PredictionRow.enqueued_at < cutoff,
            )
            .order_by(PredictionRow.updated_at)
            .limit(limit)
            .with_for_update(skip_locked=True)  # a row a worker is changing is left for later
            # Materialized: picked once. As an IN (subquery) the planner may run it again per
            # row, and with SKIP LOCKED each run picks others: more than `limit` rows changed.
            .cte("stuck")
            .prefix_with("MATERIALIZED")
        )
        statement = (
            update(PredictionRow)
            # the status again: a row a worker finished meanwhile stays finished
            .where(PredictionRow.id == stuck.c.id, PredictionRow.status.in_(_ACTIVE))
            .values(status=Status.ERROR.value, error=reason, updated_at=func.now())
            .returning(PredictionRow.id)
        )
        return self._run(lambda s: len(s.execute(statement).all()))

    def add_pending(self, prediction_id: uuid.UUID, image_key: str) -> Prediction:
        statement = (
            insert(PredictionRow)
            .values(id=prediction_id, status=Status.PENDING.value, image_key=image_key)
            .returning(PredictionRow.created_at, PredictionRow.updated_at)
        )
        created_at, updated_at = self._run(lambda s: s.execute(statement).one())
        return Prediction(prediction_id, Status.PENDING, image_key, created_at, updated_at)

    def mark_enqueued(self, prediction_id: uuid.UUID) -> None:
        self._run(
            lambda s: s.execute(
                update(PredictionRow)
                .where(PredictionRow.id == prediction_id)
                .values(enqueued_at=func.now())
            )
        )

    def delete(self, prediction_id: uuid.UUID) -> None:
        self._run(
            lambda s: s.execute(delete(PredictionRow).where(PredictionRow.id == prediction_id))
        )

    def get(self, prediction_id: uuid.UUID) -> Prediction | None:
        def work(session: Session) -> Prediction | None:
            row = session.get(PredictionRow, prediction_id)
            return _to_domain(row) if row is not None else None

        return self._run(work)

    def start_processing(self, prediction_id: uuid.UUID) -> bool:
        return self._transition(prediction_id, _ACTIVE, status=Status.PROCESSING.value)

    def finish(
        self, prediction_id: uuid.UUID, has_dog: bool, detections: Sequence[Detection]
    ) -> bool:
        def work(session: Session) -> bool:
            if not _update_if(
                session,
                prediction_id,
                (Status.PROCESSING.value,),
                status=Status.DONE.value,
                has_dog=has_dog,
                error=None,
            ):
                return False
            if detections:
                session.execute(
                    insert(DetectionRow),
                    [_detection_values(prediction_id, d) for d in detections],
                )
            return True

        return self._run(work)

    def fail(self, prediction_id: uuid.UUID, reason: str) -> bool:
        return self._transition(prediction_id, _ACTIVE, status=Status.ERROR.value, error=reason)

    def unenqueued_before(self, seconds: int, limit: int) -> list[Prediction]:
        cutoff = func.now() - timedelta(seconds=seconds)
        query = (
            select(PredictionRow)
            .where(PredictionRow.enqueued_at.is_(None), PredictionRow.created_at < cutoff)
            .order_by(PredictionRow.created_at)
            .limit(limit)
        )
        return self._run(lambda s: [_to_domain(r) for r in s.scalars(query)])

    def unfinished(self, limit: int) -> list[Prediction]:
        query = (
            select(PredictionRow)
            .where(PredictionRow.status.in_(_ACTIVE), PredictionRow.enqueued_at.is_not(None))
            .order_by(PredictionRow.created_at)
            .limit(limit)
        )
        return self._run(lambda s: [_to_domain(r) for r in s.scalars(query)])

    def _transition(
        self, prediction_id: uuid.UUID, allowed: tuple[str, ...], **values: object
    ) -> bool:
        return self._run(lambda s: _update_if(s, prediction_id, allowed, **values))


_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")


@contextmanager
def _database_errors() -> Iterator[None]:
    try:
        yield
    except DBAPIError as exc:
        # Connection faults are the dependency's; constraint or SQL errors are our bugs.
        if isinstance(exc, (OperationalError, InterfaceError)) or exc.connection_invalidated:
            raise DependencyUnavailable("database") from exc
        raise
    except (OSError, ConnectionError) as exc:
        raise DependencyUnavailable("database") from exc


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


def _update_if(
    session: Session, prediction_id: uuid.UUID, allowed: tuple[str, ...], **values: object
) -> bool:
    result = session.execute(
        update(PredictionRow)
        .where(PredictionRow.id == prediction_id, PredictionRow.status.in_(allowed))
        .values(updated_at=func.now(), **values)
        .returning(PredictionRow.id)
    )
    return result.first() is not None


def _detection_values(prediction_id: uuid.UUID, d: Detection) -> dict[str, object]:
    return {
        "prediction_id": prediction_id,
        "label": d.label,
        "confidence": d.confidence,
        "x1": d.box.x1,
        "y1": d.box.y1,
        "x2": d.box.x2,
        "y2": d.box.y2,
    }


def _to_domain(row: PredictionRow) -> Prediction:
    return Prediction(
        id=row.id,
        status=Status(row.status),
        image_key=row.image_key,
        created_at=row.created_at,
        updated_at=row.updated_at,
        has_dog=row.has_dog,
        error=row.error,
        detections=tuple(
            Detection(d.label, d.confidence, Box(d.x1, d.y1, d.x2, d.y2)) for d in row.detections
        ),
    )
