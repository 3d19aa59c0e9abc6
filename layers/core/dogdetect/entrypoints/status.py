"""status: GET /image_prediction/{id} (Prefer: wait=N, within the service's wait limits), its
annotated photo, GET /health, the page at `/` and the API's description."""

from __future__ import annotations

from fastapi import Depends, Response
from fastapi.responses import JSONResponse
from mangum import Mangum

from dogdetect.api import docs, page, routes
from dogdetect.api.annotated import jpeg_response
from dogdetect.api.app import create_api
from dogdetect.api.params import PREFER, apply_wait, waiting_client
from dogdetect.api.prefer import requested_wait
from dogdetect.api.schemas import PredictionOut, health_response
from dogdetect.domain.ports import PredictionReader
from dogdetect.runtime import use_cases
from dogdetect.runtime.composition import Adapters, adapters
from dogdetect.runtime.observability import instrument, observability
from dogdetect.service.health import check_dependencies
from dogdetect.service.read import Waiting, annotated_photo, read_with_wait

obs = observability("status")
app = create_api("dog-detector status", settings=lambda: adapters().settings)
docs.serve_api_description(app)  # /openapi.json and /docs, reached through $default
page.serve_page(app)  # GET / (try it by hand) and the static files of the page and /docs
repository = use_cases.current(use_cases.prediction_reader)
waiting = use_cases.current(use_cases.waiting)


@app.get(routes.PREDICTION, **routes.READ)
def read_prediction(
    image_prediction_id: str,
    response: Response,
    prefer: str | None = PREFER,
    client: str = Depends(waiting_client),
    repo: PredictionReader = Depends(repository),
    waits: Waiting = Depends(waiting),
) -> PredictionOut:
    obs.correlate(image_prediction_id)
    wait = requested_wait(prefer)
    prediction, applied = read_with_wait(image_prediction_id, repo, wait, client, waits)
    apply_wait(response, applied)
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
