"""Idempotency keys in PostgreSQL: a PENDING row added together with the key that names it,
in one transaction, or the key's holder read instead; and the expiry of old keys."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as insert_or_skip
from sqlalchemy.orm import Session

from dogdetect.adapters.postgres.detections import option_columns, to_domain
from dogdetect.adapters.postgres.tables import IdempotencyKeyRow, PredictionRow
from dogdetect.domain.idempotency import KeyClaim, KeyedPrediction
from dogdetect.domain.models import Status, pending
from dogdetect.domain.options import PredictionOptions

# Picked once (materialized), oldest first, as the repository's fail_stuck's rows.
_DELETE_EXPIRED_KEYS = text(
    "WITH expired AS MATERIALIZED (SELECT key_digest FROM idempotency_keys"
    " WHERE created_at < now() - make_interval(secs => :seconds)"
    " ORDER BY created_at LIMIT :limit)"
    " DELETE FROM idempotency_keys AS k USING expired AS e WHERE k.key_digest = e.key_digest"
    " RETURNING k.key_digest"
)


def add_pending_once(
    session: Session,
    prediction_id: uuid.UUID,
    image_key: str,
    claim: KeyClaim,
    webhook_url: str | None,
    upload_expires_at: datetime | None = None,
    options: PredictionOptions | None = None,
    owner: bytes | None = None,
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
            upload_expires_at=upload_expires_at,
            **option_columns(options),
            owner=owner,
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
        made = pending(prediction_id, image_key, created_at, updated_at, webhook_url, options)
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
        to_domain(row), bytes(image_sha256), created=False, enqueued=row.enqueued_at is not None
    )


def delete_expired_keys(session: Session, older_than_seconds: int, limit: int) -> int:
    params = {"seconds": older_than_seconds, "limit": limit}
    return len(session.execute(_DELETE_EXPIRED_KEYS, params).all())
