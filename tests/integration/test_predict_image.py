"""The predict image's Python side, without Docker: the venv is installed from the same
functions/predict/requirements.txt the Dockerfile installs; here the handler runs as the
image runs it — a fresh interpreter whose path is the function folder and the core package,
ultralytics offline, the model from MODEL_PATH — on a real SQS event against the stack's S3
and PostgreSQL. Any download attempt would go to a dead proxy and fail."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

from dogdetect.adapters.aws import S3ImageStorage
from dogdetect.adapters.postgres import PostgresPredictionRepository
from dogdetect.domain.models import Status, image_key_for

from local.config import REPO_ROOT
from local.launcher import RunningStack, free_port
from tests.photos import SHARED_IMAGES, photo

MODEL = SHARED_IMAGES.parent / "models" / "yolo11n_int8_openvino_model"
EVENT = REPO_ROOT / "tests" / "events" / "predict_sqs_batch.json"

RUN_HANDLER = """
import json, sys
import app  # functions/predict/app.py, as the image's CMD ["app.handler"]
class Context:
    function_name, function_version, memory_limit_in_mb = "predict", "$LATEST", 2048
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:predict"
    aws_request_id, log_group_name, log_stream_name = "req-1", "/aws/lambda/predict", "s"
    def get_remaining_time_in_millis(self): return 60_000
event = json.load(open(sys.argv[1]))
print("RESULT " + json.dumps(app.handler(event, Context())))
"""


def test_predict_handler_runs_offline_on_an_sqs_event(
    stack: RunningStack,
    repository: PostgresPredictionRepository,
    storage: S3ImageStorage,
    tmp_path: Path,
) -> None:
    event = json.loads(EVENT.read_text())
    ids = [uuid.uuid4(), uuid.uuid4()]
    for record, prediction_id, name in zip(
        event["Records"], ids, ("dog.jpg", "horses.jpg"), strict=True
    ):
        key = image_key_for(prediction_id)
        storage.put(key, photo(name))
        repository.add_pending(prediction_id, key)
        record["body"] = json.dumps(
            {"image_prediction_id": str(prediction_id), "bucket": storage.bucket, "key": key}
        )
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event))
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    env = {
        **{k: v for k, v in stack.environment.items() if k.isupper()},
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": f"{REPO_ROOT / 'functions' / 'predict'}:{REPO_ROOT / 'layers' / 'core'}",
        "MODEL_PATH": str(MODEL),
        "YOLO_CONFIG_DIR": str(tmp_path / "ultralytics"),  # /tmp in the image
        "HTTPS_PROXY": dead_proxy,
        "HTTP_PROXY": dead_proxy,
        "NO_PROXY": "127.0.0.1,localhost",
    }
    run = subprocess.run(
        [sys.executable, "-c", RUN_HANDLER, str(event_file)],
        cwd=tmp_path,  # not the checkout: models/ and ../shared/models/ are not found from here
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    lines = dict(
        line.split(" ", 1) for line in run.stdout.splitlines() if line.startswith("RESULT")
    )
    assert json.loads(lines["RESULT"]) == {"batchItemFailures": []}
    dog, horses = (repository.get(i) for i in ids)
    assert dog is not None and horses is not None
    assert (dog.status, dog.has_dog) == (Status.DONE, True)
    assert (horses.status, horses.has_dog) == (Status.DONE, False)
