"""status: GET /image_prediction/{id} (waiting up to N seconds with Prefer: wait=N), its
annotated photo (GET /image_prediction/{id}/annotated) and GET /health; the page at `/` and
the API's description. Reads PostgreSQL, and the bucket for the annotated photo (health also
asks the bucket and the queue whether they answer)."""

from __future__ import annotations

from fastapi import Depends, Response
from fastapi.responses import JSONResponse
from mangum import Mangum

from dogdetect.api import docs, page, routes
from dogdetect.api.annotated import jpeg_response
from dogdetect.api.app import create_api
from dogdetect.api.params import PREFER, apply_wait
from dogdetect.api.prefer import requested_wait
from dogdetect.api.schemas import PredictionOut, health_response
from dogdetect.domain.ports import PredictionReader
from dogdetect.runtime import use_cases
from dogdetect.runtime.composition import Adapters, adapters
from dogdetect.runtime.observability import instrument, observability
from dogdetect.service.health import check_dependencies
from dogdetect.service.read import annotated_photo, wait_for_prediction

obs = observability("status")
app = create_api("dog-detector status", settings=lambda: adapters().settings)
docs.serve_api_description(app)  # /openapi.json and /docs, reached through $default
page.serve_page(app)  # GET / (try it by hand) and the static files of the page and /docs
repository = use_cases.current(use_cases.prediction_reader)


@app.get(routes.PREDICTION, **routes.READ)
def read_prediction(
    image_prediction_id: str,
    response: Response,
    prefer: str | None = PREFER,
    repo: PredictionReader = Depends(repository),
) -> PredictionOut:
    obs.correlate(image_prediction_id)
    wait = requested_wait(prefer)
    prediction = wait_for_prediction(image_prediction_id, repo, wait or 0)
    apply_wait(response, wait)
    return PredictionOut.of(prediction)


@app.get(f"{routes.PREDICTION}/annotated", **routes.ANNOTATED)
def read_annotated(image_prediction_id: str, a: Adapters = Depends(adapters)) -> Response:
    obs.correlate(image_prediction_id)
    pixels = a.settings.max_image_pixels
    return jpeg_response(annotated_photo(image_prediction_id, a.repository, a.storage, pixels))


@app.get("/health", **routes.HEALTH)
def health(a: Adapters = Depends(adapters)) -> JSONResponse:
    probes = {"database": a.repository.ping, "storage": a.storage.ping, "queue": a.queue.ping}
    return health_response(check_dependencies(probes))


handler = instrument(Mangum(app, lifespan="off"), obs, adapters)
