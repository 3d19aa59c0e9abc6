"""submit, the write side: POST /image_prediction (validate, store, record, queue; 202), POST
/image_prediction/uploads (a presigned POST; 201), DELETE /image_prediction/{id}."""

from __future__ import annotations

from fastapi import Depends, Response, UploadFile

from dogdetect.api import routes
from dogdetect.api.app import create_api
from dogdetect.api.params import IMAGE_FILE, PREDICTION_ID, WriteOptions, write_options
from dogdetect.api.schemas import DirectUploadCreated, SubmitAccepted
from dogdetect.runtime import use_cases
from dogdetect.runtime.composition import adapters
from dogdetect.runtime.http import lambda_http
from dogdetect.runtime.observability import instrument, observability
from dogdetect.service.delete import delete_prediction
from dogdetect.service.submit import SubmitDeps, accept_upload
from dogdetect.service.uploads import UploadDeps, create_upload

obs = observability("submit")
app = create_api("dog-detector submit", settings=lambda: adapters().settings)
submit_deps = use_cases.current(use_cases.submit_deps)
upload_deps = use_cases.current(use_cases.upload_deps)


@app.post("/image_prediction", **routes.SUBMIT)
def create_prediction(
    response: Response,
    image: UploadFile = IMAGE_FILE,
    asked: WriteOptions = Depends(write_options),
    deps: SubmitDeps = Depends(submit_deps),
) -> SubmitAccepted:
    prediction = accept_upload(image.file.read(), deps, **asked.as_arguments())
    obs.accepted(prediction.id, "ImagesAccepted", response)
    return SubmitAccepted.of(prediction)


@app.post("/image_prediction/uploads", **routes.DIRECT_UPLOAD)
def create_direct_upload(
    response: Response,
    asked: WriteOptions = Depends(write_options),
    deps: UploadDeps = Depends(upload_deps),
) -> DirectUploadCreated:
    created = create_upload(deps, **asked.as_arguments())
    obs.accepted(created.prediction.id, "DirectUploadsCreated", response)
    return DirectUploadCreated.of(created.prediction, created.post)


@app.delete(routes.PREDICTION, **routes.DELETE)
def delete(
    image_prediction_id: str = PREDICTION_ID, deps: SubmitDeps = Depends(submit_deps)
) -> Response:
    obs.correlate(image_prediction_id)
    delete_prediction(image_prediction_id, deps.repository, deps.storage)
    obs.count("PredictionsDeleted")
    return Response(status_code=204)


handler = instrument(lambda_http(app), obs, adapters)
