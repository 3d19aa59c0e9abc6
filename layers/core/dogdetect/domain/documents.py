"""A prediction as the service shows it: the JSON document GET /image_prediction/{id} answers
and a webhook carries, as plain JSON values (standard library only).

`dogdetect.api.schemas.PredictionOut` is built from this document, so GET and the webhook
send the same bytes. Values are spelled as pydantic spells them in JSON: a UUID as its
lowercase hyphenated text, a status as its name, numbers as floats, and a datetime in ISO 8601
with "Z" for UTC (see `json_datetime`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from dogdetect.domain.models import Prediction
from dogdetect.domain.options import PredictionOptions

_MICROSECOND = timedelta(microseconds=1)


def status_document(p: Prediction) -> dict[str, Any]:
    """The prediction's status document: its id, status, has_dog, detections (label,
    confidence, box), the options applied, error and times. The webhook URL is never shown."""
    return {
        "image_prediction_id": str(p.id),
        "status": p.status.value,
        "has_dog": p.has_dog,
        "detections": [
            {
                "label": d.label,
                "confidence": float(d.confidence),
                "box": {
                    "x1": float(d.box.x1),
                    "y1": float(d.box.y1),
                    "x2": float(d.box.x2),
                    "y2": float(d.box.y2),
                },
            }
            for d in p.detections
        ],
        "options": options_document(p.options),
        "error": p.error,
        "created_at": json_datetime(p.created_at),
        "updated_at": json_datetime(p.updated_at),
    }


def options_document(options: PredictionOptions | None) -> dict[str, Any] | None:
    """What a prediction applies: `confidence`, and `classes` (None: every class). None for a
    prediction made before requests had options."""
    if options is None:
        return None
    classes = list(options.classes) if options.classes is not None else None
    return {"confidence": float(options.confidence), "classes": classes}


def json_datetime(value: datetime) -> str:
    """`value` as pydantic writes a datetime in JSON: the date and time as `isoformat` gives
    them (microseconds only when there are any), then the offset: nothing for a naive
    datetime, "Z" for UTC, else "+HH:MM" or "-HH:MM" (rounded to whole seconds, halves away
    from zero, then cut to whole minutes).

    One difference, so that pydantic reads back what it is given: an offset under a minute
    (only some zones' local mean times before 1920) pydantic writes "+00:00", which it reads
    back as UTC and writes "Z"; here it is "Z" at once."""
    text = value.replace(tzinfo=None).isoformat()
    offset = value.utcoffset()
    if offset is None:
        return text
    micro = offset // _MICROSECOND
    minutes_total = (abs(micro) + 500_000) // 1_000_000 // 60
    if minutes_total == 0:
        return text + "Z"
    hours, minutes = divmod(minutes_total, 60)
    return f"{text}{'-' if micro < 0 else '+'}{hours:02}:{minutes:02}"
