"""GET /image_prediction/{id}/annotated over HTTP: the JPEG answer, its cache headers and its
description in the OpenAPI document. The drawing is `dogdetect.image.draw`'s, the rules of
when there is a photo, and of drawing it once, `dogdetect.service.annotate`'s."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from dogdetect.api.app import ERROR_EXAMPLES, ERROR_RESPONSES, error_content
from dogdetect.api.schemas import ErrorOut
from dogdetect.domain.models import PREDICTION_NOT_FOUND
from dogdetect.service.annotate import ALL_BUSY, ENDED_IN_ERROR, NOT_YET, PHOTO_GONE

JPEG = "image/jpeg"
# Once DONE a prediction's detections and photo never change: a client may keep the picture
# (a day: the photo itself expires after UploadRetentionDays). `private`: it is one client's
# photo, for no shared cache.
CACHE_CONTROL = "private, max-age=86400, immutable"

ANNOTATED_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The photo, upright, at most 2048 pixels a side, with a box and a label"
        " for each detection (dogs magenta, the rest cyan)",
        "content": {JPEG: {"schema": {"type": "string", "format": "binary"}}},
        "headers": {"Cache-Control": {"description": CACHE_CONTROL, "schema": {"type": "string"}}},
    },
    401: ERROR_RESPONSES[401],
    404: {
        "model": ErrorOut,
        "description": "No prediction with this id; or it is not DONE (PENDING or PROCESSING:"
        " not yet; ERROR: never); or its photo is no longer stored",
        "content": error_content(
            {
                "unknown id": PREDICTION_NOT_FOUND,
                "not DONE yet": NOT_YET.format(status="PROCESSING"),
                "ended in ERROR": ENDED_IN_ERROR,
                "photo expired": PHOTO_GONE,
            }
        ),
    },
    503: {
        "model": ErrorOut,
        "description": "A dependency (database, storage) is not answering, or the service is"
        " drawing as many annotated photos as it may at once; retry after Retry-After",
        "content": error_content({**ERROR_EXAMPLES[503], "drawings busy": ALL_BUSY}),
    },
}


def jpeg_response(photo: bytes) -> Response:
    return Response(photo, media_type=JPEG, headers={"Cache-Control": CACHE_CONTROL})
