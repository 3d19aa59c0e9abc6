"""status: GET /image_prediction/{id} (waiting up to N seconds with Prefer: wait=N), its
annotated photo (GET /image_prediction/{id}/annotated) and GET /health. Reads PostgreSQL,
and the bucket for the annotated photo (health also asks the bucket and the queue whether
they answer)."""

from __future__ import annotations

from fastapi import Depends, Response
from fastapi.responses import JSONResponse
from mangum import Mangum

from dogdetect.api import docs
from dogdetect.api import page as web
from dogdetect.api.annotated import ANNOTATED_RESPONSES, jpeg_response
from dogdetect.api.app import ERROR_RESPONSES, create_api
from dogdetect.api.auth import require_api_key
from dogdetect.api.params import PREFER, WAIT_APPLIED_RESPONSE, apply_wait
from dogdetect.api.prefer import requested_wait
from dogdetect.api.schemas import HealthOut, PredictionOut
from dogdetect.domain.ports import PredictionRepository
from dogdetect.runtime.composition import Adapters, adapters
from dogdetect.runtime.observability import instrument, observability
from dogdetect.service.annotate import annotated_photo
from dogdetect.service.health import check_dependencies
from dogdetect.service.waiting import wait_for_prediction

obs = observability("status")
app = create_api("dog-detector status")
docs.serve_api_description(app)  # /openapi.json and /docs, reached through $default
web.serve_page(app)  # GET / (try it by hand) and the static files of the page and /docs


def repository() -> PredictionRepository:
    return adapters().repository


@app.get(
    "/image_prediction/{image_prediction_id}",
    response_model=PredictionOut,
    responses={**ERROR_RESPONSES, **WAIT_APPLIED_RESPONSE},
    dependencies=[Depends(require_api_key)],
)
def read_prediction(
    image_prediction_id: str,
    response: Response,
    prefer: str | None = PREFER,
    repo: PredictionRepository = Depends(repository),
) -> PredictionOut:
    obs.correlate(image_prediction_id)
    wait = requested_wait(prefer)
    prediction = wait_for_prediction(image_prediction_id, repo, wait or 0)
    apply_wait(response, wait)
    return PredictionOut.of(prediction)


@app.get(
    "/image_prediction/{image_prediction_id}/annotated",
    response_class=Response,
    responses=ANNOTATED_RESPONSES,
    dependencies=[Depends(require_api_key)],
)
def read_annotated(image_prediction_id: str, a: Adapters = Depends(adapters)) -> Response:
    obs.correlate(image_prediction_id)
    photo = annotated_photo(
        image_prediction_id, a.repository, a.storage, a.settings.max_image_pixels
    )
    return jpeg_response(photo)


@app.get(
    "/health",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "A dependency is not answering"}},
)
def health(a: Adapters = Depends(adapters)) -> JSONResponse:
    checks = check_dependencies(
        {"database": a.repository.ping, "storage": a.storage.ping, "queue": a.queue.ping}
    )
    healthy = all(v == "ok" for v in checks.values())
    body = HealthOut(status="ok" if healthy else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if healthy else 503)


handler = instrument(Mangum(app, lifespan="off"), obs)
