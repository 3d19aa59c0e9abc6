"""status: GET /image_prediction/{id} (Prefer: wait=N, within limits), its annotated photo
(drawn once), the list of past predictions (GET /image_prediction), GET /health, the page at
`/` and the API's description; and, through `$default`, the answer to any other route."""

from __future__ import annotations

from fastapi import Depends, Response

from dogdetect.api import docs, page, params, routes
from dogdetect.api.annotated import jpeg_response
from dogdetect.api.app import create_api
from dogdetect.api.auth import key_scope
from dogdetect.api.prefer import requested_wait
from dogdetect.api.schemas import PredictionOut, PredictionPage, health_response
from dogdetect.domain.models import Status
from dogdetect.domain.ports import PredictionLister, PredictionReader
from dogdetect.runtime import use_cases
from dogdetect.runtime.composition import Adapters, adapters
from dogdetect.runtime.http import lambda_http
from dogdetect.runtime.observability import instrument, observability
from dogdetect.service.annotate import Drawing, annotated_photo
from dogdetect.service.health import check_dependencies
from dogdetect.service.listing import list_predictions
from dogdetect.service.read import Waiting, read_with_wait

obs = observability("status")
app = create_api("dog-detector status", settings=lambda: adapters().settings)
docs.serve_api_description(app)  # /openapi.json and /docs, reached through $default
page.serve_page(app)  # GET / (try it by hand) and the static files of the page and /docs
repository = use_cases.current(use_cases.prediction_reader)
lister = use_cases.current(use_cases.prediction_lister)
waiting = use_cases.current(use_cases.waiting)
drawing = use_cases.current(use_cases.drawing)


@app.get(routes.COLLECTION, **routes.LIST)
def list_past_predictions(
    limit: int = params.LIMIT,
    cursor: str | None = params.CURSOR,
    status: Status | None = params.STATUS_FILTER,
    api_key: str | None = Depends(key_scope),
    repo: PredictionLister = Depends(lister),
) -> PredictionPage:
    page = list_predictions(repo, api_key=api_key, limit=limit, cursor=cursor, status=status)
    return PredictionPage.of(page.items, page.next_cursor)


@app.get(routes.PREDICTION, **routes.READ)
def read_prediction(
    response: Response,
    image_prediction_id: str = params.PREDICTION_ID,
    prefer: str | None = params.PREFER,
    client: str = Depends(params.waiting_client),
    repo: PredictionReader = Depends(repository),
    waits: Waiting = Depends(waiting),
) -> PredictionOut:
    obs.correlate(image_prediction_id)
    wait = requested_wait(prefer)
    prediction, applied = read_with_wait(image_prediction_id, repo, wait, client, waits)
    params.apply_wait(response, applied)
    return PredictionOut.of(prediction)


@app.get(f"{routes.PREDICTION}/annotated", **routes.ANNOTATED)
def read_annotated(
    image_prediction_id: str = params.PREDICTION_ID, drawn: Drawing = Depends(drawing)
) -> Response:
    obs.correlate(image_prediction_id)
    return jpeg_response(annotated_photo(image_prediction_id, drawn))


@app.get("/health", **routes.HEALTH)
def health(a: Adapters = Depends(adapters)) -> Response:
    probes = {"database": a.repository.ping, "storage": a.storage.ping, "queue": a.queue.ping}
    return health_response(check_dependencies(probes))


handler = instrument(lambda_http(app), obs, adapters)
