"""submit, the write side: POST /image_prediction (validate, store, record, queue; answer
202; at most once per Idempotency-Key), POST /image_prediction/uploads (a presigned POST to
S3; 201) and DELETE /image_prediction/{id}."""

from __future__ import annotations

from fastapi import Depends, File, Form, Header, Response, UploadFile, status
from mangum import Mangum

from dogdetect.api.app import ERROR_RESPONSES, create_api, one_image
from dogdetect.api.auth import current_settings, require_api_key
from dogdetect.api.params import DELETED_RESPONSES, IDEMPOTENCY_KEY
from dogdetect.api.schemas import DirectUploadCreated, PresignedPostOut, SubmitAccepted
from dogdetect.config import Settings
from dogdetect.domain.models import Status
from dogdetect.runtime.composition import adapters
from dogdetect.runtime.observability import instrument, observability
from dogdetect.service.delete import delete_prediction
from dogdetect.service.keyed_submit import accept_upload
from dogdetect.service.submit import SubmitDeps
from dogdetect.service.uploads import UploadDeps, create_upload

obs = observability("submit")
app = create_api("dog-detector submit")


def submit_deps() -> SubmitDeps:
    a = adapters()
    return SubmitDeps(
        repository=a.repository,
        storage=a.storage,
        queue=a.queue,
        max_upload_bytes=a.settings.max_upload_bytes,
        max_image_pixels=a.settings.max_image_pixels,
        allow_http_webhooks=a.settings.allow_http_webhooks,
    )


@app.post(
    "/image_prediction",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SubmitAccepted,
    responses=ERROR_RESPONSES,
    dependencies=[Depends(require_api_key), Depends(one_image)],
)
def create_prediction(
    response: Response,
    image: UploadFile = File(..., description="The photo: JPEG, PNG, WebP, BMP, TIFF or GIF"),
    webhook: str | None = Form(
        default=None,
        description="An https URL to POST the prediction's status JSON to once it is DONE or"
        " ERROR, signed as Standard Webhooks says (webhook-id, webhook-timestamp,"
        " webhook-signature)",
    ),
    idempotency_key: str | None = IDEMPOTENCY_KEY,
    x_api_key: str | None = Header(default=None),
    settings: Settings = Depends(current_settings),
    deps: SubmitDeps = Depends(submit_deps),
) -> SubmitAccepted:
    scope = x_api_key if settings.api_key_set else None  # a key is the API key's own
    prediction = accept_upload(image.file.read(), idempotency_key, scope, deps, webhook)
    obs.correlate(prediction.id)
    obs.metrics.add_metric(name="ImagesAccepted", unit="Count", value=1)
    response.headers["Location"] = f"/image_prediction/{prediction.id}"
    # Accepted is always PENDING; a retry with its Idempotency-Key gets this answer again.
    return SubmitAccepted(image_prediction_id=prediction.id, status=Status.PENDING)


def upload_deps() -> UploadDeps:
    a = adapters()
    return UploadDeps(
        repository=a.repository,
        presigner=a.presigner,
        max_bytes=a.settings.direct_upload_max_bytes,
        expires_seconds=a.settings.direct_upload_expires_seconds,
    )


@app.post(
    "/image_prediction/uploads",
    status_code=status.HTTP_201_CREATED,
    response_model=DirectUploadCreated,
    responses={code: ERROR_RESPONSES[code] for code in (401, 503)},
    dependencies=[Depends(require_api_key)],
    description="A prediction whose photo (up to 25 MB) the client POSTs straight to S3 with"
    " `upload`; its status reads as any other's once S3 has it.",
)
def create_direct_upload(
    response: Response, deps: UploadDeps = Depends(upload_deps)
) -> DirectUploadCreated:
    created = create_upload(deps)
    obs.correlate(created.prediction.id)
    obs.metrics.add_metric(name="DirectUploadsCreated", unit="Count", value=1)
    response.headers["Location"] = f"/image_prediction/{created.prediction.id}"
    post = created.post
    return DirectUploadCreated(
        image_prediction_id=created.prediction.id,
        upload=PresignedPostOut(url=post.url, fields=post.fields),
        expires_at=post.expires_at,
    )


@app.delete(
    "/image_prediction/{image_prediction_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=DELETED_RESPONSES,
    dependencies=[Depends(require_api_key)],
)
def delete(image_prediction_id: str, deps: SubmitDeps = Depends(submit_deps)) -> Response:
    obs.correlate(image_prediction_id)
    delete_prediction(image_prediction_id, deps.repository, deps.storage)
    obs.metrics.add_metric(name="PredictionsDeleted", unit="Count", value=1)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


handler = instrument(Mangum(app, lifespan="off"), obs)
