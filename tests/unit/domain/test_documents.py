"""The status document (`dogdetect.domain.documents`): plain JSON values, no pydantic, and the
same as what GET /image_prediction/{id} answers, so a webhook carries GET's bytes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from dogdetect.api.schemas import BoxOut, DetectionOut, OptionsOut, PredictionOut
from dogdetect.domain.documents import status_document
from dogdetect.domain.models import Box, Detection, Prediction, Status
from dogdetect.domain.notifications import notification_for, payload_bytes
from dogdetect.domain.options import COCO_CLASSES, PredictionOptions
from fastapi.responses import JSONResponse
from hypothesis import given
from hypothesis import strategies as st

from tests.fakes import detection
from tests.unit.conftest import Wired

HOOK = "https://hooks.example.com/dogs"

# Within a second of 24 h: pydantic writes an offset over 23:59:59.5 as "24:00", which it
# cannot read back (no zone has one).
_OFFSET = timedelta(hours=24) - timedelta(seconds=1)
# UTC (what the database gives), naive, any fixed offset (down to microseconds) and real zones.
zones = st.one_of(
    st.just(UTC),
    st.none(),
    st.timedeltas(min_value=-_OFFSET, max_value=_OFFSET).map(timezone),
    st.timezones(),
)
times = st.datetimes(timezones=zones)
numbers = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**53), 2**53))
detections = st.builds(
    Detection,
    label=st.text(max_size=20),
    confidence=numbers,
    box=st.builds(Box, numbers, numbers, numbers, numbers),
)
predictions = st.builds(
    Prediction,
    id=st.uuids(),
    status=st.sampled_from(Status),
    image_key=st.text(max_size=20),
    created_at=times,
    updated_at=times,
    has_dog=st.none() | st.booleans(),
    error=st.none() | st.text(max_size=40),
    detections=st.lists(detections, max_size=4).map(tuple),
    webhook_url=st.none() | st.just(HOOK),
    options=st.none()
    | st.builds(
        PredictionOptions,
        confidence=st.floats(0, 1),
        classes=st.none() | st.lists(st.sampled_from(COCO_CLASSES), max_size=3).map(tuple),
    ),
)


def pydantic_rendering(p: Prediction) -> PredictionOut:
    """PredictionOut built from the domain objects themselves (no document in between)."""
    return PredictionOut(
        image_prediction_id=p.id,
        status=p.status,
        has_dog=p.has_dog,
        detections=[
            DetectionOut(label=d.label, confidence=d.confidence, box=BoxOut(**vars(d.box)))
            for d in p.detections
        ],
        options=None
        if p.options is None
        else OptionsOut(
            confidence=p.options.confidence,
            classes=None if p.options.classes is None else list(p.options.classes),
        ),
        error=p.error,
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


@given(predictions)
def test_the_document_is_what_get_answers(p: Prediction) -> None:
    document = status_document(p)
    assert document == PredictionOut.of(p).model_dump(mode="json")
    # ...and what pydantic makes of the objects themselves (datetimes, offsets, numbers), but
    # for an offset under a minute: "Z" in the document, "+00:00" from pydantic.
    direct = pydantic_rendering(p).model_dump(mode="json")
    for field in ("created_at", "updated_at"):
        if direct[field].endswith(("+00:00", "-00:00")):
            direct[field] = direct[field][:-6] + "Z"
    assert document == direct


@given(predictions.filter(lambda p: p.status.is_terminal and p.webhook_url is not None))
def test_the_webhook_body_is_gets_body_byte_for_byte(p: Prediction) -> None:
    get_body = JSONResponse(PredictionOut.of(p).model_dump(mode="json")).body
    assert payload_bytes(notification_for(p).payload) == get_body


def test_the_webhook_body_is_what_the_status_app_answers(status_api: Wired) -> None:
    row = status_api.repository.seed(
        Status.DONE,
        has_dog=True,
        detections=[detection(), detection("cat", 0.5)],
        webhook_url=HOOK,
    )
    response = status_api.client.get(f"/image_prediction/{row.id}")
    assert response.status_code == 200
    assert response.content == payload_bytes(notification_for(row).payload)


def test_utc_is_written_z_with_microseconds_only_when_there_are_some() -> None:
    p = Prediction(
        id=uuid.UUID(int=1),
        status=Status.PENDING,
        image_key="k",
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        updated_at=datetime(2026, 1, 2, 3, 4, 5, 120, tzinfo=UTC),
    )
    document = status_document(p)
    assert document["created_at"] == "2026-01-02T03:04:05Z"
    assert document["updated_at"] == "2026-01-02T03:04:05.000120Z"
    assert document["image_prediction_id"] == "00000000-0000-0000-0000-000000000001"
    assert document["status"] == "PENDING"
