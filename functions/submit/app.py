"""submit: POST /image_prediction. Validate, store, record, queue; answer 202."""

from __future__ import annotations

from dogdetect.http import ERROR_RESPONSES, create_api, one_image
from dogdetect.observability import instrument, observability
from dogdetect.schemas import SubmitAccepted
from dogdetect.security import require_api_key
from dogdetect.service.submit import SubmitDeps, submit_image
from dogdetect.wiring import adapters
from fastapi import Depends, File, Response, UploadFile, status
from mangum import Mangum

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
    deps: SubmitDeps = Depends(submit_deps),
) -> SubmitAccepted:
    data = image.file.read()
    prediction = submit_image(data, deps)
    obs.correlate(prediction.id)
    obs.metrics.add_metric(name="ImagesAccepted", unit="Count", value=1)
    response.headers["Location"] = f"/image_prediction/{prediction.id}"
    return SubmitAccepted(image_prediction_id=prediction.id, status=prediction.status)


handler = instrument(Mangum(app, lifespan="off"), obs)
