"""The `dogdetect` command and its Python API (`dogdetect_client`) as a user installs them,
`pip install ./clients/python` into an empty venv (tests/client_venv.py), and
GET /image_prediction/{id}/annotated, over HTTP against the local stack: the gateway, the
functions with their own IAM, S3, the real model. The commands about one prediction (get,
wait, annotated, delete) and the list (GET /image_prediction) too."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from dogdetect.adapters.postgres import PostgresPredictionRepository
from dogdetect.domain.models import image_key_for
from dogdetect.image.draw import MAX_JPEG_BYTES, MAX_SIDE
from PIL import Image

from local.launcher import RunningStack
from tests.client_venv import InstalledClient, install_client
from tests.conftest import sql, submit, wait_terminal
from tests.drawn_boxes import DOG, OTHER, edge_fraction, open_jpeg
from tests.photos import SHARED_IMAGES, photo

DIRECT_LIMIT = 4_500_000  # Settings.max_upload_bytes

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> InstalledClient:
    return install_client(tmp_path_factory.mktemp("client-venv"))


@pytest.fixture(scope="module")
def dogdetect(installed: InstalledClient) -> Run:
    """The installed command, run as a user runs it: `dogdetect ARGS` from that venv."""

    def run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return installed.run(installed.dogdetect, *args, timeout=timeout)

    return run


def json_lines(text: str) -> dict[str, dict[str, Any]]:
    """The --json lines by file name."""
    found = {}
    for line in text.splitlines():
        body = json.loads(line)
        found[Path(body["path"]).name] = body
    return found


def best_dog(result: dict[str, Any]) -> dict[str, Any]:
    dogs = [d for d in result["detections"] if d["label"] == "dog"]
    assert dogs, result
    return max(dogs, key=lambda d: d["confidence"])


def box_of(detection: dict[str, Any], scale: float = 1.0) -> tuple[float, float, float, float]:
    b = detection["box"]
    return (b["x1"] * scale, b["y1"] * scale, b["x2"] * scale, b["y2"] * scale)


@pytest.fixture
def photo_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(SHARED_IMAGES / "dog.jpg", folder / "dog.jpg")
    shutil.copy(SHARED_IMAGES / "horses.jpg", folder / "horses.jpg")
    (folder / "notes.jpg").write_text("a shopping list, not a photo\n")
    return folder


@pytest.fixture(scope="module")
def large_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dog.jpg upscaled to 3840 x 2880 at the highest quality: over what the API takes in a
    request (4,500,000 bytes), so it must go through the presigned upload."""
    image = Image.open(SHARED_IMAGES / "dog.jpg").resize((3840, 2880), Image.Resampling.BICUBIC)
    path = tmp_path_factory.mktemp("large") / "big-dog.jpg"
    image.save(path, "JPEG", quality=100, subsampling=0)
    assert DIRECT_LIMIT < path.stat().st_size < 25_000_000
    return path


# --- the command ---------------------------------------------------------------------------


def test_predict_a_folder_prints_a_json_line_per_file_and_exits_1_for_the_text_file(
    dogdetect: Run, stack: RunningStack, photo_folder: Path
) -> None:
    done = dogdetect("predict", str(photo_folder), "--api", stack.api_url, "--json")
    assert done.returncode == 1, done.stderr
    lines = json_lines(done.stdout)
    assert set(lines) == {"dog.jpg", "horses.jpg", "notes.jpg"}
    keys = {"path", "image_prediction_id", "status", "has_dog", "detections", "error"}
    assert all(set(line) == keys for line in lines.values())
    dog, horses, notes = lines["dog.jpg"], lines["horses.jpg"], lines["notes.jpg"]
    assert (dog["status"], dog["has_dog"], dog["error"]) == ("DONE", True, None)
    assert best_dog(dog)["confidence"] > 0.8
    assert uuid.UUID(dog["image_prediction_id"]).version == 4
    assert (horses["status"], horses["has_dog"]) == ("DONE", False)
    assert not [d for d in horses["detections"] if d["label"] == "dog"]
    assert (notes["status"], notes["image_prediction_id"], notes["has_dog"]) == (
        "REJECTED",
        None,
        None,
    )
    assert notes["error"].startswith("415: not a supported image")
    assert notes["detections"] == []


def test_predict_prints_a_table_and_exits_0_when_every_file_is_done(
    dogdetect: Run, stack: RunningStack, photo_folder: Path
) -> None:
    done = dogdetect(
        "predict", str(photo_folder / "dog.jpg"), str(photo_folder / "horses.jpg"),
        "--api", stack.api_url,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    rows = done.stdout.splitlines()
    assert rows[0].split() == ["PATH", "STATUS", "DOG", "ID", "DETECTIONS"]
    assert rows[1].split()[1:3] == ["DONE", "yes"] and "dog " in rows[1]
    assert rows[2].split()[1:3] == ["DONE", "no"]
    assert rows[3] == "2 files: 1 with a dog, 1 without, 0 not DONE"


def test_annotate_saves_a_jpeg_with_the_dog_boxed_in_its_colour(
    dogdetect: Run, stack: RunningStack, photo_folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "annotated"
    done = dogdetect(
        "predict", str(photo_folder / "dog.jpg"), "--api", stack.api_url, "--json",
        "--annotate", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (line,) = json_lines(done.stdout).values()
    saved = Path(line["annotated"])
    assert saved.parent == out and saved.name == f"dog-{line['image_prediction_id'][:8]}.jpg"
    image = open_jpeg(saved.read_bytes())
    assert image.size == Image.open(SHARED_IMAGES / "dog.jpg").size  # 768 x 576: not reduced
    assert edge_fraction(image, box_of(best_dog(line)), DOG) > 0.9
    others = [d for d in line["detections"] if d["label"] != "dog"]
    for other in others:  # a bicycle, a truck...: cyan
        assert edge_fraction(image, box_of(other), OTHER) > 0.6, other


def test_health(dogdetect: Run, stack: RunningStack) -> None:
    done = dogdetect("health", "--api", stack.api_url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == f"{stack.api_url}: ok"
    for name in ("database", "storage", "queue"):
        assert f"  {name:<10} ok" in done.stdout
    as_json = dogdetect("health", "--api", stack.api_url, "--json")
    assert json.loads(as_json.stdout)["checks"] == {
        "database": "ok",
        "storage": "ok",
        "queue": "ok",
    }


def test_a_photo_over_the_request_limit_goes_through_a_presigned_upload(
    dogdetect: Run,
    stack: RunningStack,
    large_photo: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "annotated"
    done = dogdetect(
        "predict", str(large_photo), "--api", stack.api_url, "--json", "--annotate", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (line,) = json_lines(done.stdout).values()
    assert (line["status"], line["has_dog"]) == ("DONE", True)
    (direct,) = sql(
        stack,
        "SELECT upload_expires_at IS NOT NULL FROM predictions WHERE id = :id",
        id=line["image_prediction_id"],
    )
    assert direct == (True,)  # a presigned upload's row, not the API's
    # The annotated photo of an 11-megapixel upload: drawn on a 2048-pixel copy, small enough
    # for a Lambda response, the dog's box where the detection says (scaled with the photo).
    data = Path(line["annotated"]).read_bytes()
    assert len(data) <= MAX_JPEG_BYTES
    image = open_jpeg(data)
    assert image.size == (MAX_SIDE, 1536)
    assert edge_fraction(image, box_of(best_dog(line), MAX_SIDE / 3840), DOG) > 0.9


def test_get_wait_annotated_delete_of_one_prediction(
    dogdetect: Run, stack: RunningStack, api: httpx.Client, tmp_path: Path
) -> None:
    prediction_id = submit(api, photo("dog.jpg"), "dog.jpg").json()["image_prediction_id"]
    url = ("--api", stack.api_url)
    waited = dogdetect("wait", prediction_id, *url, "--json", "--timeout", "120")
    assert waited.returncode == 0, waited.stdout + waited.stderr
    body = json.loads(waited.stdout)
    assert (body["image_prediction_id"], body["status"], body["has_dog"]) == (
        prediction_id,
        "DONE",
        True,
    )
    got = dogdetect("get", prediction_id, *url)
    assert got.returncode == 0, got.stdout + got.stderr
    header, row = got.stdout.splitlines()
    assert header.split() == ["ID", "STATUS", "DOG", "CREATED", "DETECTIONS"]
    assert row.split()[:3] == [prediction_id, "DONE", "yes"] and " dog " in row
    target = tmp_path / "dog-boxed.jpg"
    saved = dogdetect("annotated", prediction_id, "-o", str(target), *url)
    assert saved.returncode == 0, saved.stdout + saved.stderr
    assert saved.stdout == f"saved {target} ({target.stat().st_size:,} bytes)\n"
    image = open_jpeg(target.read_bytes())
    assert image.size == (768, 576)
    assert edge_fraction(image, box_of(best_dog(body)), DOG) > 0.9
    deleted = dogdetect("delete", prediction_id, *url)
    assert (deleted.returncode, deleted.stdout) == (0, f"deleted {prediction_id}\n")
    for gone in (
        ("get", prediction_id),
        ("wait", prediction_id),
        ("annotated", prediction_id, "-o", str(tmp_path / "gone.jpg")),
        ("delete", prediction_id),
    ):
        done = dogdetect(*gone, *url)
        assert done.returncode == 3, (gone, done.stdout, done.stderr)
        assert done.stderr == "dogdetect: 404: no prediction with this id\n"
    assert not (tmp_path / "gone.jpg").exists()


def test_a_pending_prediction_is_exit_1_for_get_wait_and_annotated(
    dogdetect: Run,
    stack: RunningStack,
    repository: PostgresPredictionRepository,
    tmp_path: Path,
) -> None:
    pending = uuid.uuid4()  # queued as far as anyone knows, never processed: stays PENDING
    repository.add_pending(pending, image_key_for(pending))
    repository.mark_enqueued(pending)
    url = ("--api", stack.api_url)
    try:
        got = dogdetect("get", str(pending), *url, "--json")
        assert got.returncode == 1 and json.loads(got.stdout)["status"] == "PENDING"
        waited = dogdetect("wait", str(pending), *url, "--timeout", "1")
        assert waited.returncode == 1
        assert waited.stdout.splitlines()[1].split()[:3] == [str(pending), "PENDING", "-"]
        assert waited.stderr == "dogdetect: PENDING, not finished within 1 s\n"
        target = tmp_path / "none.jpg"
        annotated = dogdetect("annotated", str(pending), "-o", str(target), *url)
        assert annotated.returncode == 1
        assert annotated.stderr == (
            "dogdetect: 404: the prediction is PENDING: its annotated photo exists once it is"
            " DONE\n"
        )
        assert not target.exists()
    finally:
        repository.remove(pending)


def test_an_api_url_holding_a_route_says_what_to_pass(dogdetect: Run, stack: RunningStack) -> None:
    done = dogdetect("list", "--api", f"{stack.api_url}/image_prediction")
    assert done.returncode == 2
    assert f"pass --api {stack.api_url} (not {stack.api_url}/image_prediction;" in done.stderr


def test_list_newest_first_page_after_page(
    dogdetect: Run, stack: RunningStack, api: httpx.Client
) -> None:
    """Needs GET /image_prediction (the listing's server side). Without API keys the list is
    every prediction: this test's three are the newest."""
    made = [
        submit(api, photo(name), name).json()["image_prediction_id"]
        for name in ("dog.jpg", "horses.jpg", "dog.jpg")
    ]
    for prediction_id in made:
        wait_terminal(api, prediction_id)
    url = ("--api", stack.api_url)
    newest = dogdetect("list", *url, "--limit", "2")
    assert newest.returncode == 0, newest.stdout + newest.stderr
    rows = newest.stdout.splitlines()
    assert rows[0].split() == ["ID", "STATUS", "DOG", "CREATED", "DETECTIONS"]
    assert [row.split()[:3] for row in rows[1:3]] == [
        [made[2], "DONE", "yes"],
        [made[1], "DONE", "no"],
    ]
    assert rows[3] == "2 predictions, newest first; more with --all or a larger --limit"
    every = dogdetect("list", *url, "--all", "--json")
    assert every.returncode == 0, every.stdout + every.stderr
    items = [json.loads(line) for line in every.stdout.splitlines()]
    ids = [item["image_prediction_id"] for item in items]
    assert len(ids) == len(set(ids)) and ids[:3] == made[::-1]  # each once, newest first
    stamps = [datetime.fromisoformat(item["created_at"]) for item in items]
    assert stamps == sorted(stamps, reverse=True)
    assert items[0] == api.get(f"/image_prediction/{made[2]}").json()  # as GET answers it
    errors = dogdetect("list", *url, "--all", "--json", "--status", "error")
    assert errors.returncode == 0, errors.stdout + errors.stderr
    found = [json.loads(line) for line in errors.stdout.splitlines()]
    assert {item["status"] for item in found} <= {"ERROR"}
    assert not set(made) & {item["image_prediction_id"] for item in found}


# --- GET /image_prediction/{id}/annotated ----------------------------------------------------


def test_annotated_is_404_until_done_then_a_jpeg(
    api: httpx.Client, repository: PostgresPredictionRepository
) -> None:
    pending = uuid.uuid4()  # queued as far as anyone knows, never processed: stays PENDING
    repository.add_pending(pending, image_key_for(pending))
    repository.mark_enqueued(pending)
    response = api.get(f"/image_prediction/{pending}/annotated")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "detail": "the prediction is PENDING: its annotated photo exists once it is DONE"
    }
    repository.fail(pending, "given up")
    response = api.get(f"/image_prediction/{pending}/annotated")
    assert response.status_code == 404
    assert response.json() == {
        "detail": "the prediction ended in ERROR: there is no annotated photo"
    }
    repository.remove(pending)

    prediction_id = submit(api, photo("dog.jpg"), "dog.jpg").json()["image_prediction_id"]
    result = wait_terminal(api, prediction_id)
    response = api.get(f"/image_prediction/{prediction_id}/annotated")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "private, max-age=86400, immutable"
    image = open_jpeg(response.content)
    assert image.size == (768, 576)
    assert edge_fraction(image, box_of(best_dog(result)), DOG) > 0.9


@pytest.mark.parametrize("raw", [str(uuid.uuid4()), "not-an-id", str(uuid.uuid4()).upper()])
def test_annotated_of_an_unknown_id_is_404(api: httpx.Client, raw: str) -> None:
    response = api.get(f"/image_prediction/{raw}/annotated")
    assert response.status_code == 404
    assert response.json() == {"detail": "no prediction with this id"}


# --- the Python API -------------------------------------------------------------------------


CLIENT_SCRIPT = """
import json, sys
from dogdetect_client import ApiError, Client

client = Client(sys.argv[1])
with open(sys.argv[2], "rb") as photo:
    result = client.predict(photo.read())
annotated = client.annotated(result.image_prediction_id)
with open(sys.argv[3], "wb") as out:
    out.write(annotated)
client.delete(result.image_prediction_id)
try:
    client.annotated(result.image_prediction_id)
    after_delete = None
except ApiError as exc:
    after_delete = exc.status
print(json.dumps({"result": result.to_json(), "after_delete": after_delete,
                  "healthy": client.health()[0]}))
"""


def test_the_client_predicts_annotates_and_deletes(
    installed: InstalledClient, stack: RunningStack
) -> None:
    """The Python API from the installed distribution, in its own venv."""
    annotated = installed.home / "annotated-by-the-api.jpg"
    done = installed.run(
        installed.python, "-c", CLIENT_SCRIPT, stack.api_url, SHARED_IMAGES / "dog.jpg", annotated
    )
    assert done.returncode == 0, done.stdout + done.stderr
    answer = json.loads(done.stdout)
    result = answer["result"]
    assert (result["status"], result["has_dog"], result["path"]) == ("DONE", True, None)
    assert uuid.UUID(result["image_prediction_id"]).version == 4
    assert Image.open(annotated).format == "JPEG"
    assert answer["after_delete"] == 404
    assert answer["healthy"] is True
