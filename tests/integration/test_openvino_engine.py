"""The default engine on the shared model, each run in a fresh interpreter as predict's cold
start runs it: no torch, and the compiled-model cache, read-only once filled as in the image
(/opt/models/openvino-cache), or unusable."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from dogdetect.adapters.detector.openvino import (
    PREPARED_FOLDER,
    fingerprint,
    model_xml,
    read_metadata,
)
from dogdetect.domain.options import COCO_CLASSES

from local.config import REPO_ROOT
from local.launcher import RunningStack
from tests.conftest import submit, wait_terminal
from tests.photos import SHARED_IMAGES, photo

pytestmark = pytest.mark.model

MODEL = SHARED_IMAGES.parent / "models" / "yolo11n_int8_openvino_model"

# Builds the detector as predict does (load_detector: engine from the settings, warm-up),
# detects dog.jpg, and says what it found and which heavy modules it loaded.
DETECT = """
import json, sys
from dogdetect.adapters.detector.loading import load_detector
from dogdetect.image.decode import decode_rgb
from dogdetect.config import Settings
detector = load_detector(Settings(model_path=sys.argv[1], openvino_cache_dir=sys.argv[2]))
found = detector.detect([decode_rgb(open(sys.argv[3], "rb").read(), 40_000_000)])[0]
print(json.dumps({
    "engine": type(detector).__name__,
    "loaded_from_cache": detector.loaded_from_cache,
    "detections": [[d.label, d.confidence, list(vars(d.box).values())] for d in found],
    "modules": sorted({m.split(".")[0] for m in sys.modules}),
}))
"""


def detect_in_fresh_interpreter(cache_dir: Path, read_only: Path | None = None) -> dict[str, Any]:
    """DETECT in a new process; `read_only` is mounted read-only for it when we are root
    (root writes through file modes; another user is stopped by them)."""
    argv = [
        sys.executable,
        "-c",
        DETECT,
        str(MODEL),
        str(cache_dir),
        str(SHARED_IMAGES / "dog.jpg"),
    ]
    if read_only is not None and os.geteuid() == 0:
        mount = 'mount --bind -o ro "$0" "$0" && exec "$@"'
        argv = ["unshare", "--mount", "sh", "-c", mount, str(read_only), *argv]
    env = {k: v for k, v in os.environ.items() if k not in ("DETECTOR_ENGINE", "MODEL_PATH")}
    run = subprocess.run(
        argv,
        cwd=REPO_ROOT,
        env={**env, "PYTHONPATH": str(REPO_ROOT / "layers" / "core")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def xml_of(model: Path) -> Path:
    return model_xml(str(model))


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def make_read_only(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)


def test_default_engine_finds_the_dog_without_torch(tmp_path: Path) -> None:
    result = detect_in_fresh_interpreter(tmp_path / "cache")
    assert result["engine"] == "OpenVinoYolo"
    labels = {label: confidence for label, confidence, _ in result["detections"]}
    assert labels["dog"] > 0.9
    assert "openvino" in result["modules"]
    assert not {"torch", "torchvision", "ultralytics"} & set(result["modules"])


def test_engine_loads_from_a_read_only_prefilled_cache(tmp_path: Path) -> None:
    cache = tmp_path / "openvino-cache"
    filled = detect_in_fresh_interpreter(cache)
    assert not filled["loaded_from_cache"] and any(cache.iterdir())
    make_read_only(cache)
    before = snapshot(cache)
    reloaded = detect_in_fresh_interpreter(cache, read_only=cache)
    assert reloaded["loaded_from_cache"]
    assert reloaded["detections"] == filled["detections"]
    assert snapshot(cache) == before  # nothing written, nothing removed


def test_the_cache_keeps_the_model_with_its_input_conversion_and_answers_the_same(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "openvino-cache"
    from_prepared = detect_in_fresh_interpreter(cache)
    (prepared,) = (cache / PREPARED_FOLDER).glob("*/model.xml")
    assert prepared.parent.name == fingerprint(xml_of(MODEL), 640)
    assert prepared.with_suffix(".bin").is_file()
    locked = tmp_path / "locked"  # no cache at all: converted in memory, compiled at once
    locked.mkdir()
    make_read_only(locked)
    uncached = detect_in_fresh_interpreter(locked / "cache", read_only=locked)
    assert uncached["detections"] == from_prepared["detections"]


def test_a_changed_model_gets_a_prepared_model_of_its_own(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(MODEL, model)
    before = fingerprint(xml_of(model), 640)
    bin_file = xml_of(model).with_suffix(".bin")
    weights = bin_file.read_bytes()
    bin_file.write_bytes(weights[:-1] + bytes([weights[-1] ^ 1]))  # one bit of one weight
    assert fingerprint(xml_of(model), 640) != before
    assert fingerprint(xml_of(model), 320) != fingerprint(xml_of(model), 640)


def test_an_unusable_cache_dir_does_not_stop_the_engine(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    make_read_only(locked)
    result = detect_in_fresh_interpreter(locked / "openvino-cache", read_only=locked)
    assert not result["loaded_from_cache"]
    assert "dog" in {label for label, _, _ in result["detections"]}
    assert not (locked / "openvino-cache").exists()


def test_make_local_keeps_the_compiled_model_in_its_state_dir(
    stack: RunningStack, api: httpx.Client
) -> None:
    cache = stack.state_dir / "openvino-cache"
    environments = json.loads((stack.state_dir / "poller-functions.json").read_text())
    assert environments["predict"]["OPENVINO_CACHE_DIR"] == str(cache)
    body = wait_terminal(api, submit(api, photo("dog.jpg")).json()["image_prediction_id"])
    assert body["status"] == "DONE" and body["has_dog"]
    assert any(cache.glob("*.blob"))  # written by predict's cold start, read by the next


def test_the_classes_a_request_may_name_are_the_models() -> None:
    """`classes` is checked at submit, which has no model: against the names written in
    `domain.options`, which must be the shipped model's, in its order."""
    names = read_metadata(MODEL).names
    assert tuple(names[i] for i in sorted(names)) == COCO_CLASSES
