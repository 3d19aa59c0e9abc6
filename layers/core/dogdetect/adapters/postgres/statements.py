"""The statements of the worker's batches and of the sweep. A batch's take one array per
column (unnest): a fixed text and a fixed number of parameters whatever the batch's size.
Status values are bound parameters taken from `Status`, never literals in the text."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Select,
    func,
    literal,
    select,
    text,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.sql.dml import ReturningUpdate

from dogdetect.adapters.postgres.tables import ACTIVE, FINISHED, PredictionRow
from dogdetect.domain.listing import Position
from dogdetect.domain.models import Status

_PENDING, _PROCESSING = Status.PENDING.value, Status.PROCESSING.value

# -- the worker's batches ------------------------------------------------------------------

# PENDING/PROCESSING -> PROCESSING (again: a redelivered message's worker takes it over),
# with the options each row's request asked.
START_MANY = text(
    "UPDATE predictions SET status = :processing, updated_at = now()"
    " WHERE id = ANY(CAST(:ids AS uuid[])) AND status IN (:pending, :processing)"
    " RETURNING id, min_confidence, classes"
).bindparams(pending=_PENDING, processing=_PROCESSING)

# PROCESSING -> DONE with each row's answer.
FINISH_MANY = text(
    "UPDATE predictions AS p"
    " SET status = :done, has_dog = a.has_dog, error = NULL, updated_at = now()"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:has_dog AS boolean[])) AS a (id, has_dog)"
    " WHERE p.id = a.id AND p.status = :processing"
    " RETURNING p.id"
).bindparams(done=Status.DONE.value, processing=_PROCESSING)

# PENDING/PROCESSING -> ERROR with each row's reason.
FAIL_MANY = text(
    "UPDATE predictions AS p SET status = :error, error = a.reason, updated_at = now()"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:reasons AS text[])) AS a (id, reason)"
    " WHERE p.id = a.id AND p.status IN (:pending, :processing)"
    " RETURNING p.id"
).bindparams(error=Status.ERROR.value, pending=_PENDING, processing=_PROCESSING)

# -- the sweep -----------------------------------------------------------------------------


def _before(seconds: int) -> ColumnElement[datetime]:
    return func.now() - timedelta(seconds=seconds)


def unenqueued_before(seconds: int, limit: int) -> Select[tuple[PredictionRow]]:
    return (
        select(PredictionRow)
        .where(
            PredictionRow.enqueued_at.is_(None),
            PredictionRow.created_at < _before(seconds),
            # a direct upload is queued by S3's notification: uploads_overdue's, not this
            PredictionRow.upload_expires_at.is_(None),
        )
        .order_by(PredictionRow.created_at)
        .limit(limit)
    )


def uploads_overdue(grace_seconds: int, limit: int) -> Select[tuple[PredictionRow]]:
    return (
        select(PredictionRow)
        .where(
            PredictionRow.upload_expires_at < _before(grace_seconds),  # migration 0005's index
            PredictionRow.upload_expires_at.is_not(None),
            PredictionRow.enqueued_at.is_(None),
        )
        .order_by(PredictionRow.upload_expires_at)
        .limit(limit)
    )


def unfinished(limit: int) -> Select[tuple[PredictionRow]]:
    return (
        select(PredictionRow)
        .where(PredictionRow.status.in_(ACTIVE), PredictionRow.enqueued_at.is_not(None))
        .order_by(PredictionRow.created_at)
        .limit(limit)
    )


def fail_stuck(
    older_than_seconds: int, reason: str, limit: int
) -> ReturningUpdate[tuple[uuid.UUID]]:
    cutoff = _before(older_than_seconds)
    stuck = (
        select(PredictionRow.id)
        .where(
            PredictionRow.status.in_(ACTIVE),
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
    return (
        update(PredictionRow)
        # the status again: a row a worker finished meanwhile stays finished
        .where(PredictionRow.id == stuck.c.id, PredictionRow.status.in_(ACTIVE))
        .values(status=Status.ERROR.value, error=reason, updated_at=func.now())
        .returning(PredictionRow.id)
    )


# -- webhooks ------------------------------------------------------------------------------

# Finished rows whose webhook was never announced (the partial index of migration 0004).
_UNANNOUNCED = select(PredictionRow).where(
    PredictionRow.webhook_url.is_not(None),
    PredictionRow.webhook_enqueued_at.is_(None),
    PredictionRow.status.in_(FINISHED),
)


def webhooks_due(prediction_ids: Collection[uuid.UUID]) -> Select[tuple[PredictionRow]]:
    return _UNANNOUNCED.where(PredictionRow.id.in_(list(prediction_ids)))


def webhooks_overdue(older_than_seconds: int, limit: int) -> Select[tuple[PredictionRow]]:
    return (
        _UNANNOUNCED.where(PredictionRow.updated_at < _before(older_than_seconds))
        .order_by(PredictionRow.updated_at)
        .limit(limit)
    )


# -- GET /image_prediction -----------------------------------------------------------------


def listing(
    owner: bytes | None, status: Status | None, after: Position | None, limit: int
) -> Select[tuple[PredictionRow]]:
    """`limit` rows, newest first (created_at, then id), of `owner` (None: everyone's), of
    `status` or of any, older than `after`. One index range per status (migration 0009's
    indexes: the owner's, or everyone's), each read for at most `limit` entries, merged: a
    page costs at most 4 x `limit` index entries, however long the history and whichever
    status is rare. Without the split, a rare status would be filtered out of a scan of all."""
    ranges = []
    for wanted in [status] if status is not None else list(Status):
        conditions = [PredictionRow.status == wanted.value]
        if owner is not None:
            conditions.append(PredictionRow.owner == owner)
        if after is not None:
            position = tuple_(PredictionRow.created_at, PredictionRow.id)
            conditions.append(position < tuple_(literal(after.created_at), literal(after.id)))
        ranges.append(
            select(PredictionRow.id)
            .where(*conditions)
            .order_by(PredictionRow.created_at.desc(), PredictionRow.id.desc())
            .limit(limit)
        )
    chosen = (union_all(*ranges) if len(ranges) > 1 else ranges[0]).subquery("chosen")
    return (
        select(PredictionRow)
        .join(chosen, PredictionRow.id == chosen.c.id)
        .order_by(PredictionRow.created_at.desc(), PredictionRow.id.desc())
        .limit(limit)
    )
