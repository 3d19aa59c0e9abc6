"""PostgreSQL repository through SQLAlchemy 2 and pg8000. Every state change is one
conditional UPDATE, so concurrent workers and redeliveries cannot corrupt a row."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    TextClause,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session, joinedload, sessionmaker
from sqlalchemy.sql import Executable

from dogdetect.adapters.postgres import idempotency, statements
from dogdetect.adapters.postgres.detections import (
    insert_detections,
    option_columns,
    options_of,
    to_domain,
)
from dogdetect.adapters.postgres.engine import advisory_lock, autocommit, database_errors
from dogdetect.adapters.postgres.tables import ACTIVE, PredictionRow
from dogdetect.domain.errors import IdempotencyKeyInFlight
from dogdetect.domain.idempotency import KeyClaim, KeyedPrediction
from dogdetect.domain.listing import Position
from dogdetect.domain.models import FinishedPrediction, Prediction, Status, pending
from dogdetect.domain.options import PredictionOptions

T = TypeVar("T")


class PostgresPredictionRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with database_errors(), self._sessions.begin() as session:
            yield session

    def _run(self, work: Callable[[Session], T]) -> T:
        with self._session() as session:
            return work(session)

    @contextmanager
    def _autocommitted(self) -> Iterator[Connection]:
        """A pooled connection whose statements commit as they run: no BEGIN or COMMIT round
        trips, and closing sends no ROLLBACK (pg8000 knows none is open)."""
        with (
            database_errors(),
            self._engine.connect() as connection,
            autocommit(connection.connection.dbapi_connection),
        ):
            yield connection

    def _alone(self, statement: Executable) -> Sequence[Any]:
        """The rows of one statement, atomic by itself (the submit path's writes)."""
        with self._autocommitted() as connection:
            result = connection.execute(statement)
            return result.all() if result.returns_rows else []

    @contextmanager
    def _alone_session(self) -> Iterator[Session]:
        """`_autocommitted` for the ORM: a session for one read."""
        with (
            self._autocommitted() as connection,
            Session(bind=connection, expire_on_commit=False) as session,
        ):
            yield session

    def _predictions(self, query: Select[tuple[PredictionRow]]) -> list[Prediction]:
        return self._run(lambda s: [to_domain(r) for r in s.scalars(query)])

    def ping(self) -> None:
        self._run(lambda s: s.execute(text("SELECT 1")))

    def exclusive(self, name: str) -> AbstractContextManager[bool]:
        """The advisory lock `name` for the block (`engine.advisory_lock`)."""
        return advisory_lock(self._engine, name)

    # -- submit: a PENDING row, its message's mark, its undo ----------------------------

    def add_pending(
        self,
        prediction_id: uuid.UUID,
        image_key: str,
        webhook_url: str | None = None,
        options: PredictionOptions | None = None,
        owner: bytes | None = None,
    ) -> Prediction:
        return self._insert_pending(prediction_id, image_key, webhook_url, options, owner=owner)

    def add_awaiting_upload(
        self,
        prediction_id: uuid.UUID,
        image_key: str,
        upload_expires_at: datetime,
        webhook_url: str | None = None,
        options: PredictionOptions | None = None,
        owner: bytes | None = None,
    ) -> Prediction:
        return self._insert_pending(
            prediction_id,
            image_key,
            webhook_url,
            options,
            upload_expires_at=upload_expires_at,
            owner=owner,
        )

    def _insert_pending(
        self,
        prediction_id: uuid.UUID,
        image_key: str,
        webhook_url: str | None,
        options: PredictionOptions | None,
        **columns: object,
    ) -> Prediction:
        """One autocommitted INSERT ... RETURNING of a PENDING row (one round trip)."""
        statement = (
            insert(PredictionRow)
            .values(
                id=prediction_id,
                status=Status.PENDING.value,
                image_key=image_key,
                webhook_url=webhook_url,
                **option_columns(options),
                **columns,
            )
            .returning(PredictionRow.created_at, PredictionRow.updated_at)
        )
        ((created_at, updated_at),) = self._alone(statement)
        return pending(prediction_id, image_key, created_at, updated_at, webhook_url, options)

    def add_pending_once(
        self,
        prediction_id: uuid.UUID,
        image_key: str,
        claim: KeyClaim,
        webhook_url: str | None = None,
        upload_expires_at: datetime | None = None,
        options: PredictionOptions | None = None,
        owner: bytes | None = None,
    ) -> KeyedPrediction:
        for _ in range(3):
            found = self._run(
                lambda s: idempotency.add_pending_once(
                    s,
                    prediction_id,
                    image_key,
                    claim,
                    webhook_url,
                    upload_expires_at,
                    options,
                    owner,
                )
            )
            if found is not None:
                return found
        # Each time, the key's holder was deleted before it could be read: a submit of it was
        # being undone (its 503 on its way), or its prediction deleted. Soon it is free.
        raise IdempotencyKeyInFlight("a request with this Idempotency-Key is being undone")

    def mark_enqueued(self, prediction_id: uuid.UUID) -> None:
        self._alone(
            update(PredictionRow)
            .where(PredictionRow.id == prediction_id)
            .values(enqueued_at=func.now())
        )

    def remove(self, prediction_id: uuid.UUID) -> str | None:
        statement = (
            delete(PredictionRow)
            .where(PredictionRow.id == prediction_id)
            .returning(PredictionRow.image_key)
        )
        return self._run(lambda s: s.execute(statement).scalar_one_or_none())

    def get(self, prediction_id: uuid.UUID) -> Prediction | None:
        """The row and its detections in one statement (a join), committed as it runs: a
        status read, the most frequent statement, is one round trip, not BEGIN, two SELECTs
        and COMMIT."""
        query = (
            select(PredictionRow)
            .where(PredictionRow.id == prediction_id)
            .options(joinedload(PredictionRow.detections))
        )
        with self._alone_session() as session:
            row = session.scalars(query).unique().one_or_none()
            return to_domain(row) if row is not None else None

    def page(
        self,
        owner: bytes | None,
        status: Status | None,
        after: Position | None,
        limit: int,
    ) -> list[Prediction]:
        return self._predictions(statements.listing(owner, status, after, limit))

    # -- the worker (a batch at a time) and the dead-letter consumer ---------------------

    def fail(self, prediction_id: uuid.UUID, reason: str) -> bool:
        statement = (
            update(PredictionRow)
            .where(PredictionRow.id == prediction_id, PredictionRow.status.in_(ACTIVE))
            .values(status=Status.ERROR.value, error=reason, updated_at=func.now())
            .returning(PredictionRow.id)
        )
        return self._run(lambda s: s.execute(statement).first() is not None)

    def start_processing_many(
        self, prediction_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, PredictionOptions | None]:
        if not prediction_ids:
            return {}
        params = {"ids": sorted(prediction_ids)}

        def work(session: Session) -> dict[uuid.UUID, PredictionOptions | None]:
            rows = session.execute(statements.START_MANY, params)
            return {pid: options_of(confidence, classes) for pid, confidence, classes in rows}

        return self._run(work)

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
            done = _ids(session, statements.FINISH_MANY, answers)
            insert_detections(
                session,
                [
                    (r.prediction_id, d)
                    for r in results
                    if r.prediction_id in done
                    for d in r.detections
                ],
            )
            return done

        return self._run(work)

    def fail_many(self, reasons: Mapping[uuid.UUID, str]) -> set[uuid.UUID]:
        if not reasons:
            return set()
        ids = sorted(reasons)  # rows locked in one order by every worker
        params = {"ids": ids, "reasons": [reasons[i] for i in ids]}
        return self._run(lambda s: _ids(s, statements.FAIL_MANY, params))

    # -- the sweep: reads and repairs ---------------------------------------------------

    def unenqueued_before(self, seconds: int, limit: int) -> list[Prediction]:
        return self._predictions(statements.unenqueued_before(seconds, limit))

    def uploads_overdue(self, grace_seconds: int, limit: int) -> list[Prediction]:
        return self._predictions(statements.uploads_overdue(grace_seconds, limit))

    def unfinished(self, limit: int) -> list[Prediction]:
        return self._predictions(statements.unfinished(limit))

    def fail_stuck(self, older_than_seconds: int, reason: str, limit: int) -> int:
        statement = statements.fail_stuck(older_than_seconds, reason, limit)
        return self._run(lambda s: len(s.execute(statement).all()))

    def delete_expired_keys(self, older_than_seconds: int, limit: int) -> int:
        return self._run(lambda s: idempotency.delete_expired_keys(s, older_than_seconds, limit))

    # -- webhooks: finished rows still to be announced ----------------------------------

    def webhooks_due(self, prediction_ids: Collection[uuid.UUID]) -> list[Prediction]:
        if not prediction_ids:
            return []
        return self._predictions(statements.webhooks_due(prediction_ids))

    def webhooks_overdue(self, older_than_seconds: int, limit: int) -> list[Prediction]:
        return self._predictions(statements.webhooks_overdue(older_than_seconds, limit))

    def mark_webhooks_enqueued(self, prediction_ids: Collection[uuid.UUID]) -> None:
        if not prediction_ids:
            return
        statement = (
            update(PredictionRow)
            .where(PredictionRow.id.in_(list(prediction_ids)))
            .values(webhook_enqueued_at=func.now())  # not updated_at: the prediction is as it was
        )
        self._run(lambda s: s.execute(statement))


def _ids(session: Session, statement: TextClause, params: Mapping[str, object]) -> set[uuid.UUID]:
    return set(session.scalars(statement, params))
