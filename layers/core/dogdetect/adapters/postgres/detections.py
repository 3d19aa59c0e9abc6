"""Predictions and their detections in and out of the tables: the one INSERT of a batch's
detections (one array per column, in the detector's order) and a row read back as the
domain's `Prediction`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from dogdetect.adapters.postgres.tables import PredictionRow
from dogdetect.domain.models import Box, Detection, Prediction, Status
from dogdetect.domain.options import PredictionOptions

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


def insert_detections(session: Session, rows: Sequence[tuple[uuid.UUID, Detection]]) -> None:
    """Each (prediction id, detection), in one statement whatever their number."""
    if rows:
        session.execute(_INSERT_DETECTIONS, _columns(rows))


def _columns(rows: Sequence[tuple[uuid.UUID, Detection]]) -> dict[str, object]:
    return {
        "prediction_id": [pid for pid, _ in rows],
        "label": [d.label for _, d in rows],
        "confidence": [d.confidence for _, d in rows],
        "x1": [d.box.x1 for _, d in rows],
        "y1": [d.box.y1 for _, d in rows],
        "x2": [d.box.x2 for _, d in rows],
        "y2": [d.box.y2 for _, d in rows],
    }


def to_domain(row: PredictionRow) -> Prediction:
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
        options=options_of(row.min_confidence, row.classes),
    )


def options_of(
    min_confidence: float | None, classes: Sequence[str] | None
) -> PredictionOptions | None:
    """A row's options as the domain's; None for a row made before requests had options."""
    if min_confidence is None:
        return None
    return PredictionOptions(min_confidence, tuple(classes) if classes is not None else None)


def option_columns(options: PredictionOptions | None) -> dict[str, object]:
    """The columns that hold `options`, for an INSERT."""
    if options is None:
        return {"min_confidence": None, "classes": None}
    classes = list(options.classes) if options.classes is not None else None
    return {"min_confidence": options.confidence, "classes": classes}
