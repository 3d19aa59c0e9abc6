"""SQLAlchemy table definitions; Alembic migrations create them (runtime/migrations)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    Uuid,
    column,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from dogdetect.domain.models import Status

# Status values as the enum spells them; DDL renders them inline, queries bind them.
STATUSES = tuple(s.value for s in Status)
ACTIVE = (Status.PENDING.value, Status.PROCESSING.value)
FINISHED = (Status.DONE.value, Status.ERROR.value)


class Base(DeclarativeBase):
    pass


class PredictionRow(Base):
    __tablename__ = "predictions"
    __table_args__ = (
        CheckConstraint(column("status").in_(STATUSES), name="ck_predictions_status"),
        # A request's options (migration 0008): a confidence in 0..1, classes only with one.
        CheckConstraint(
            "min_confidence BETWEEN 0 AND 1 AND (classes IS NULL OR min_confidence IS NOT NULL)",
            name="ck_predictions_options",
        ),
        CheckConstraint("octet_length(owner) = 32", name="ck_predictions_owner"),
        # The sweeper's query: uploads whose message may never have been sent.
        Index(
            "ix_predictions_unenqueued",
            "created_at",
            postgresql_where=text("enqueued_at IS NULL"),
        ),
        # The sweeper's stuck-row query: unfinished rows by last change (migration 0002).
        Index(
            "ix_predictions_unfinished",
            "updated_at",
            postgresql_where=column("status").in_(ACTIVE),
        ),
        # The sweep's query: finished rows whose webhook was never announced (migration 0004).
        Index(
            "ix_predictions_webhook_unannounced",
            "updated_at",
            postgresql_where=text("webhook_url IS NOT NULL AND webhook_enqueued_at IS NULL"),
        ),
        # GET /image_prediction with API keys on: one key's predictions, newest first, of
        # one status (migration 0009). A listing of every status merges the four ranges.
        Index(
            "ix_predictions_owner_listing",
            "owner",
            "status",
            column("created_at").desc(),
            column("id").desc(),
            postgresql_where=text("owner IS NOT NULL"),
        ),
        # GET /image_prediction with keys off: everyone's, the same way (migration 0009).
        Index(
            "ix_predictions_listing",
            "status",
            column("created_at").desc(),
            column("id").desc(),
        ),
        # The sweep's query: direct uploads not yet settled, by expiry (migration 0005).
        Index(
            "ix_predictions_awaiting_upload",
            "upload_expires_at",
            postgresql_where=text("upload_expires_at IS NOT NULL AND enqueued_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    image_key: Mapped[str] = mapped_column(Text, nullable=False)
    has_dog: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    webhook_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    webhook_enqueued_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    # A direct upload's: when its presigned POST expires (the client sends the photo to S3).
    upload_expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    # The request's options (`domain.options`), defaults filled; both NULL for a row made
    # before requests had options (migration 0008). `classes` NULL: every class.
    min_confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    classes: Mapped[list[str] | None] = mapped_column(ARRAY(Text), nullable=True)

    # A digest of the API key that created it (`domain.listing.owner_digest`); NULL when
    # keys were off, or for a row older than migration 0009.
    owner: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)

    detections: Mapped[list[DetectionRow]] = relationship(
        order_by="DetectionRow.id", cascade="all, delete-orphan", lazy="selectin"
    )


class DetectionRow(Base):
    __tablename__ = "detections"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    prediction_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("predictions.id", ondelete="CASCADE"), nullable=False, index=True
    )
    label: Mapped[str] = mapped_column(String(64), nullable=False)
    confidence: Mapped[float] = mapped_column(Float, nullable=False)
    x1: Mapped[float] = mapped_column(Float, nullable=False)
    y1: Mapped[float] = mapped_column(Float, nullable=False)
    x2: Mapped[float] = mapped_column(Float, nullable=False)
    y2: Mapped[float] = mapped_column(Float, nullable=False)


class IdempotencyKeyRow(Base):
    """Which prediction an Idempotency-Key named (migration 0003). Only digests: of the key
    within its scope, and of the image. Rows older than a day are ignored, then swept."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        CheckConstraint("octet_length(key_digest) = 32", name="ck_idempotency_keys_key_digest"),
        CheckConstraint("octet_length(image_sha256) = 32", name="ck_idempotency_keys_image_sha256"),
        Index("ix_idempotency_keys_created_at", "created_at"),  # the sweep's expiry
        Index("ix_idempotency_keys_prediction_id", "prediction_id"),  # the cascade's lookup
        # The functions' role may add, read and remove a key, never repoint one
        # (dogdetect.runtime.migrate grants by this).
        {"info": {"app_privileges": ("SELECT", "INSERT", "DELETE")}},
    )

    key_digest: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    image_sha256: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    prediction_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("predictions.id", ondelete="CASCADE"), nullable=False
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class SlotClaimRow(Base):
    """A claim on one pool of bounded work while it is held (`adapters/postgres/slots.py`):
    a request held by `Prefer: wait` (pool "wait"; `client` a digest of the API key, or of the
    source address when keys are off), an annotated photo being drawn (pool "drawing";
    `client` the prediction). `expires_at` lapses the claim of an execution killed while
    holding it."""

    __tablename__ = "slot_claims"
    __table_args__ = (Index("ix_slot_claims_pool_client", "pool", "client"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    pool: Mapped[str] = mapped_column(String(16))
    client: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
