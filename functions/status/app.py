"""status: GET /image_prediction/{id} and GET /health. Reads PostgreSQL only (health also
asks the bucket and the queue whether they answer)."""

from __future__ import annotations

from dogdetect import docs
from dogdetect.http import ERROR_RESPONSES, create_api
from dogdetect.observability import instrument, observability
from dogdetect.ports import PredictionRepository
from dogdetect.schemas import HealthOut, PredictionOut
from dogdetect.security import require_api_key
from dogdetect.service.health import check_dependencies
from dogdetect.service.status import get_prediction
from dogdetect.wiring import Adapters, adapters
from fastapi import Depends
from fastapi.responses import JSONResponse
from mangum import Mangum

obs = observability("status")
app = create_api("dog-detector status")
docs.serve_api_description(app)  # /openapi.json and /docs, reached through $default


def repository() -> PredictionRepository:
    return adapters().repository


@app.get(
    "/image_prediction/{image_prediction_id}",
    response_model=PredictionOut,
    responses=ERROR_RESPONSES,
    dependencies=[Depends(require_api_key)],
)
def read_prediction(
    image_prediction_id: str, repo: PredictionRepository = Depends(repository)
) -> PredictionOut:
    obs.correlate(image_prediction_id)
    return PredictionOut.of(get_prediction(image_prediction_id, repo))


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
