"""PostgreSQL repository through SQLAlchemy 2 and pg8000. Every state change is one
conditional UPDATE, so concurrent workers and redeliveries cannot corrupt a row."""

from __future__ import annotations

import hashlib
import logging
import ssl
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    URL,
    Connection,
    Engine,
    TextClause,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as insert_or_skip
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql import Executable

from dogdetect.adapters.tables import DetectionRow, IdempotencyKeyRow, PredictionRow
from dogdetect.domain.errors import DependencyUnavailable, IdempotencyKeyInFlight
from dogdetect.domain.idempotency import KeyClaim, KeyedPrediction
from dogdetect.domain.models import Box, Detection, FinishedPrediction, Prediction, Status

T = TypeVar("T")
# A connection used this recently is taken as alive; one idle longer (a Lambda environment
# frozen between requests) is pinged before use, as pool_pre_ping would. Wall-clock time, as
# pool_recycle's: a frozen or snapshotted environment's monotonic clock may not count the pause.
PING_AFTER_IDLE_SECONDS = 1.0
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
            with _autocommit(dbapi_connection):
                engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("the pooled connection is gone") from exc  # a new one


@contextmanager
def _autocommit(dbapi_connection: Any) -> Iterator[None]:
    """A lone statement commits as it runs: pg8000 would spend a round trip on BEGIN and
    three on COMMIT. The connection goes back to the pool in transaction mode."""
    dbapi_connection.autocommit = True
    try:
        yield
    finally:
        dbapi_connection.autocommit = False


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

    def _alone(self, statement: Executable) -> Sequence[Any]:
        """The rows of one statement, atomic by itself, committed as it runs (the submit
        path's writes: no ORM session, no BEGIN or COMMIT round trips)."""
        with (
            _database_errors(),
            self._engine.connect() as connection,
            _autocommit(connection.connection.dbapi_connection),
        ):
            result = connection.execute(statement)
            return result.all() if result.returns_rows else []

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

    def add_pending(
        self, prediction_id: uuid.UUID, image_key: str, webhook_url: str | None = None
    ) -> Prediction:
        created_at, updated_at = self._insert_pending(
            prediction_id, image_key, webhook_url=webhook_url
        )
        return Prediction(
            prediction_id,
            Status.PENDING,
            image_key,
            created_at,
            updated_at,
            webhook_url=webhook_url,
        )

    def add_awaiting_upload(
        self, prediction_id: uuid.UUID, image_key: str, upload_expires_at: datetime
    ) -> Prediction:
        created_at, updated_at = self._insert_pending(
            prediction_id, image_key, upload_expires_at=upload_expires_at
        )
        return Prediction(prediction_id, Status.PENDING, image_key, created_at, updated_at)

    def _insert_pending(
        self, prediction_id: uuid.UUID, image_key: str, **columns: object
    ) -> tuple[datetime, datetime]:
        """One autocommitted INSERT ... RETURNING of a PENDING row (one round trip)."""
        statement = (
            insert(PredictionRow)
            .values(id=prediction_id, status=Status.PENDING.value, image_key=image_key, **columns)
            .returning(PredictionRow.created_at, PredictionRow.updated_at)
        )
        ((created_at, updated_at),) = self._alone(statement)
        return created_at, updated_at

    def uploads_overdue(self, grace_seconds: int, limit: int) -> list[Prediction]:
        cutoff = func.now() - timedelta(seconds=grace_seconds)
        query = (
            select(PredictionRow)
            .where(
                PredictionRow.upload_expires_at < cutoff,  # the partial index of migration 0005
                PredictionRow.upload_expires_at.is_not(None),
                PredictionRow.enqueued_at.is_(None),
            )
            .order_by(PredictionRow.upload_expires_at)
            .limit(limit)
        )
        return self._run(lambda s: [_to_domain(r) for r in s.scalars(query)])

    def mark_enqueued(self, prediction_id: uuid.UUID) -> None:
        self._alone(
            update(PredictionRow)
            .where(PredictionRow.id == prediction_id)
            .values(enqueued_at=func.now())
        )

    def delete(self, prediction_id: uuid.UUID) -> None:
        self.remove(prediction_id)

    def get(self, prediction_id: uuid.UUID) -> Prediction | None:
        def work(session: Session) -> Prediction | None:
            row = session.get(PredictionRow, prediction_id)
            return _to_domain(row) if row is not None else None

        return self._run(work)

    def remove(self, prediction_id: uuid.UUID) -> str | None:
        statement = (
            delete(PredictionRow)
            .where(PredictionRow.id == prediction_id)
            .returning(PredictionRow.image_key)
        )
        return self._run(lambda s: s.execute(statement).scalar_one_or_none())

    def add_pending_once(
        self,
        prediction_id: uuid.UUID,
        image_key: str,
        claim: KeyClaim,
        webhook_url: str | None = None,
    ) -> KeyedPrediction:
        for _ in range(3):
            found = self._run(
                lambda s: _add_pending_once(s, prediction_id, image_key, claim, webhook_url)
            )
            if found is not None:
                return found
        # Each time, the key's holder was deleted before it could be read: a submit of it was
        # being undone (its 503 on its way), or its prediction deleted. Soon it is free.
        raise IdempotencyKeyInFlight("a request with this Idempotency-Key is being undone")

    def delete_expired_keys(self, older_than_seconds: int, limit: int) -> int:
        params = {"seconds": older_than_seconds, "limit": limit}
        return self._run(lambda s: len(s.execute(_DELETE_EXPIRED_KEYS, params).all()))

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

    def start_processing_many(self, prediction_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        if not prediction_ids:
            return set()
        return self._run(lambda s: _ids(s, _START_MANY, {"ids": sorted(prediction_ids)}))

    def finish_many(self, results: Sequence[FinishedPrediction]) -> set[uuid.UUID]:
        if not results:
            return set()
        first: dict[uuid.UUID, FinishedPrediction] = {}
        for r in results:  # one answer per row: the first of repeated ones
            first.setdefault(r.prediction_id, r)
        results = [first[i] for i in sorted(first)]  # rows locked in one order by every worker
        answers = {
            "ids": [r.prediction_id for r in results],
            "has_dog": [r.has_dog for r in results],
        }

        def work(session: Session) -> set[uuid.UUID]:
            done = _ids(session, _FINISH_MANY, answers)
            moved = [
                (r.prediction_id, d)
                for r in results
                if r.prediction_id in done
                for d in r.detections
            ]
            if moved:
                session.execute(_INSERT_DETECTIONS, _detection_arrays(moved))
            return done

        return self._run(work)

    def fail_many(self, reasons: Mapping[uuid.UUID, str]) -> set[uuid.UUID]:
        if not reasons:
            return set()
        ids = sorted(reasons)  # rows locked in one order by every worker
        params = {"ids": ids, "reasons": [reasons[i] for i in ids]}
        return self._run(lambda s: _ids(s, _FAIL_MANY, params))

    def unenqueued_before(self, seconds: int, limit: int) -> list[Prediction]:
        cutoff = func.now() - timedelta(seconds=seconds)
        query = (
            select(PredictionRow)
            .where(
                PredictionRow.enqueued_at.is_(None),
                PredictionRow.created_at < cutoff,
                # a direct upload is queued by S3's notification: uploads_overdue's, not this
                PredictionRow.upload_expires_at.is_(None),
            )
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

    def webhooks_due(self, prediction_ids: Collection[uuid.UUID]) -> list[Prediction]:
        if not prediction_ids:
            return []
        query = _UNANNOUNCED.where(PredictionRow.id.in_(list(prediction_ids)))
        return self._run(lambda s: [_to_domain(r) for r in s.scalars(query)])

    def webhooks_overdue(self, older_than_seconds: int, limit: int) -> list[Prediction]:
        cutoff = func.now() - timedelta(seconds=older_than_seconds)
        query = (
            _UNANNOUNCED.where(PredictionRow.updated_at < cutoff)
            .order_by(PredictionRow.updated_at)
            .limit(limit)
        )
        return self._run(lambda s: [_to_domain(r) for r in s.scalars(query)])

    def mark_webhooks_enqueued(self, prediction_ids: Collection[uuid.UUID]) -> None:
        if not prediction_ids:
            return
        statement = (
            update(PredictionRow)
            .where(PredictionRow.id.in_(list(prediction_ids)))
            .values(webhook_enqueued_at=func.now())  # not updated_at: the prediction is as it was
        )
        self._run(lambda s: s.execute(statement))

    def _transition(
        self, prediction_id: uuid.UUID, allowed: tuple[str, ...], **values: object
    ) -> bool:
        return self._run(lambda s: _update_if(s, prediction_id, allowed, **values))


_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
# Finished rows whose webhook was never announced (the partial index of migration 0004).
_UNANNOUNCED = select(PredictionRow).where(
    PredictionRow.webhook_url.is_not(None),
    PredictionRow.webhook_enqueued_at.is_(None),
    PredictionRow.status.in_((Status.DONE.value, Status.ERROR.value)),
)
# The batch statements take one array per column (unnest): one statement, a fixed text and a
# fixed number of parameters whatever the batch's size.
_START_MANY = text(
    "UPDATE predictions SET status = 'PROCESSING', updated_at = now()"
    " WHERE id = ANY(CAST(:ids AS uuid[])) AND status IN ('PENDING', 'PROCESSING')"
    " RETURNING id"
)
_FINISH_MANY = text(
    "UPDATE predictions AS p"
    " SET status = 'DONE', has_dog = a.has_dog, error = NULL, updated_at = now()"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:has_dog AS boolean[])) AS a (id, has_dog)"
    " WHERE p.id = a.id AND p.status = 'PROCESSING'"
    " RETURNING p.id"
)
_FAIL_MANY = text(
    "UPDATE predictions AS p SET status = 'ERROR', error = a.reason, updated_at = now()"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:reasons AS text[])) AS a (id, reason)"
    " WHERE p.id = a.id AND p.status IN ('PENDING', 'PROCESSING')"
    " RETURNING p.id"
)
# In the given order (ordinality): detections read back by id keep the detector's order.
_INSERT_DETECTIONS = text(
    "INSERT INTO detections (prediction_id, label, confidence, x1, y1, x2, y2)"
    " SELECT prediction_id, label, confidence, x1, y1, x2, y2 FROM unnest("
    "CAST(:prediction_id AS uuid[]), CAST(:label AS text[]), CAST(:confidence AS float8[]),"
    " CAST(:x1 AS float8[]), CAST(:y1 AS float8[]), CAST(:x2 AS float8[]),"
    " CAST(:y2 AS float8[])"
    ") WITH ORDINALITY AS d (prediction_id, label, confidence, x1, y1, x2, y2, position)"
    " ORDER BY position"
)
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")
# Picked once (materialized), oldest first, as fail_stuck's rows.
_DELETE_EXPIRED_KEYS = text(
    "WITH expired AS MATERIALIZED (SELECT key_digest FROM idempotency_keys"
    " WHERE created_at < now() - make_interval(secs => :seconds)"
    " ORDER BY created_at LIMIT :limit)"
    " DELETE FROM idempotency_keys AS k USING expired AS e WHERE k.key_digest = e.key_digest"
    " RETURNING k.key_digest"
)


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


def _ids(session: Session, statement: TextClause, params: dict[str, object]) -> set[uuid.UUID]:
    return set(session.scalars(statement, params))


def _detection_arrays(rows: Sequence[tuple[uuid.UUID, Detection]]) -> dict[str, object]:
    return {
        "prediction_id": [pid for pid, _ in rows],
        "label": [d.label for _, d in rows],
        "confidence": [d.confidence for _, d in rows],
        "x1": [d.box.x1 for _, d in rows],
        "y1": [d.box.y1 for _, d in rows],
        "x2": [d.box.x2 for _, d in rows],
        "y2": [d.box.y2 for _, d in rows],
    }


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


def _add_pending_once(
    session: Session,
    prediction_id: uuid.UUID,
    image_key: str,
    claim: KeyClaim,
    webhook_url: str | None,
) -> KeyedPrediction | None:
    """One transaction: an expired holder of the key goes; then the row and the key are added
    together (a savepoint), or, when the key is held (a concurrent insert waits for the
    holder's commit), the holder is read. None: the holder vanished before it could be read."""
    keys = IdempotencyKeyRow
    session.execute(
        delete(keys).where(
            keys.key_digest == claim.key_digest,
            keys.created_at < func.now() - timedelta(seconds=claim.ttl_seconds),
        )
    )
    savepoint = session.begin_nested()
    created_at, updated_at = session.execute(
        insert(PredictionRow)
        .values(
            id=prediction_id,
            status=Status.PENDING.value,
            image_key=image_key,
            webhook_url=webhook_url,
        )
        .returning(PredictionRow.created_at, PredictionRow.updated_at)
    ).one()
    held = session.execute(
        insert_or_skip(keys)
        .values(
            key_digest=claim.key_digest,
            image_sha256=claim.image_sha256,
            prediction_id=prediction_id,
        )
        .on_conflict_do_nothing(index_elements=[keys.key_digest])
        .returning(keys.key_digest)
    ).first()
    if held is not None:
        savepoint.commit()
        made = Prediction(
            prediction_id,
            Status.PENDING,
            image_key,
            created_at,
            updated_at,
            webhook_url=webhook_url,
        )
        return KeyedPrediction(made, claim.image_sha256, created=True, enqueued=False)
    savepoint.rollback()  # the row just added goes: the key names another
    holder = session.execute(
        select(keys.image_sha256, PredictionRow)
        .join(PredictionRow, PredictionRow.id == keys.prediction_id)
        .where(keys.key_digest == claim.key_digest)
    ).first()
    if holder is None:
        return None
    image_sha256, row = holder
    return KeyedPrediction(
        _to_domain(row), bytes(image_sha256), created=False, enqueued=row.enqueued_at is not None
    )


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
        webhook_url=row.webhook_url,
    )
