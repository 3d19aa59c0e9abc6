"""Security properties over HTTP: ids are unguessable capabilities, nothing lists predictions,
and optional API keys guard every route but /health on a stack started with API_KEYS set.
(The constant-time comparison itself is unit-tested in tests/unit.)"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator

import httpx
import psutil
import pytest

from local.config import Emulator
from local.launcher import RunningStack
from tests.conftest import SECURITY_KEYS, submit, submit_backing_off
from tests.corpus import jpeg, png

SUBMISSIONS = 50
KEYS = SECURITY_KEYS


def _is_json_error(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith("application/json") and bool(
        response.json().get("detail")
    )


def test_ids_are_distinct_random_uuid4(api: httpx.Client) -> None:
    image = jpeg()
    ids = []
    for _ in range(SUBMISSIONS):  # as a well-behaved client: past the gateway's burst, 429s
        response, _ = submit_backing_off(api, image)
        assert response.status_code == 202, response.text
        ids.append(uuid.UUID(response.json()["image_prediction_id"]))
    assert len(set(ids)) == SUBMISSIONS
    assert all(i.version == 4 and i.variant == uuid.RFC_4122 for i in ids)
    # No sequence: neither sorted nor evenly spaced, as a counter or a clock would make them.
    values = [i.int for i in ids]
    assert values != sorted(values) and values != sorted(values, reverse=True)
    assert len({b - a for a, b in itertools.pairwise(values)}) > 1
    # Every one of the 122 random bits takes both values across the sample: no fixed field
    # (timestamp, host, counter) hides in them. A fixed bit by chance has odds 2**-49.
    version_and_variant = (0xF << 76) | (0x3 << 62)
    random_bits = ((1 << 128) - 1) & ~version_and_variant
    ones = zeros = 0
    for value in values:
        ones |= value
        zeros |= ~value
    assert ones & random_bits == random_bits
    assert zeros & random_bits == random_bits


# GET /image_prediction lists a caller's own (with API keys; tests/e2e/test_listing.py); no
# other path lists anything.
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/image_prediction/"),
        ("GET", "/image_predictions"),
        ("GET", "/image_predictions/"),
        ("GET", "/predictions"),
        ("GET", "/image_prediction/*"),
        ("DELETE", "/image_prediction"),
        ("PUT", "/image_prediction"),
    ],
)
def test_no_other_route_lists_predictions(api: httpx.Client, method: str, path: str) -> None:
    response = api.request(method, path)
    assert response.status_code in (404, 405), response.text
    assert _is_json_error(response)


def test_a_known_id_cannot_be_changed(api: httpx.Client) -> None:
    # DELETE is a route of its own (tests/e2e/test_api_features.py); nothing else changes one.
    prediction_id = submit(api, jpeg()).json()["image_prediction_id"]
    for method in ("PUT", "PATCH", "POST"):
        response = api.request(method, f"/image_prediction/{prediction_id}")
        assert response.status_code in (404, 405), (method, response.text)
        assert _is_json_error(response)
    assert api.get(f"/image_prediction/{prediction_id}").status_code == 200


def test_a_known_id_answers_only_in_its_own_spelling(api: httpx.Client) -> None:
    prediction_id = submit(api, jpeg()).json()["image_prediction_id"]
    assert api.get(f"/image_prediction/{prediction_id}").status_code == 200
    spellings = [
        prediction_id.upper(),
        "{" + prediction_id + "}",
        "urn:uuid:" + prediction_id,
        prediction_id.replace("-", ""),
    ]
    for other in spellings:
        response = api.get(f"/image_prediction/{other}")
        assert response.status_code == 404, other
        assert response.json() == {"detail": "no prediction with this id"}


# --- API keys, end to end, on a second stack started with API_KEYS set ----------------------


@pytest.fixture(scope="module")
def keyed_api(keyed_stack: RunningStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=keyed_stack.api_url, timeout=30) as client:
        yield client


def _post(client: httpx.Client, headers: dict[str, str] | None = None) -> httpx.Response:
    return client.post("/image_prediction", files={"image": ("a.jpg", jpeg())}, headers=headers)


@pytest.fixture(scope="module")
def keyed_prediction_id(keyed_api: httpx.Client) -> str:
    response = _post(keyed_api, {"X-API-Key": KEYS[0]})
    assert response.status_code == 202, response.text
    prediction_id: str = response.json()["image_prediction_id"]
    return prediction_id


WRONG_KEYS = [
    None,
    "",
    "wrong",
    KEYS[0].upper(),
    KEYS[0][:-1],
    KEYS[0] + "x",
    f"{KEYS[0]},{KEYS[1]}",
]


@pytest.mark.parametrize("key", WRONG_KEYS, ids=repr)
def test_submit_without_a_valid_key_is_401(keyed_api: httpx.Client, key: str | None) -> None:
    response = _post(keyed_api, None if key is None else {"X-API-Key": key})
    assert response.status_code == 401, response.text
    assert _is_json_error(response)


@pytest.mark.parametrize("key", WRONG_KEYS, ids=repr)
def test_status_without_a_valid_key_is_401(
    keyed_api: httpx.Client, keyed_prediction_id: str, key: str | None
) -> None:
    headers = None if key is None else {"X-API-Key": key}
    response = keyed_api.get(f"/image_prediction/{keyed_prediction_id}", headers=headers)
    assert response.status_code == 401, response.text
    assert _is_json_error(response)
    assert keyed_prediction_id not in response.text


@pytest.mark.parametrize("key", WRONG_KEYS, ids=repr)
def test_a_direct_upload_without_a_valid_key_is_401(
    keyed_api: httpx.Client, key: str | None
) -> None:
    headers = None if key is None else {"X-API-Key": key}
    response = keyed_api.post("/image_prediction/uploads", headers=headers)
    assert response.status_code == 401, response.text
    assert _is_json_error(response) and "upload" not in response.json()


def test_a_direct_upload_with_a_key_is_201(keyed_api: httpx.Client) -> None:
    response = keyed_api.post("/image_prediction/uploads", headers={"X-API-Key": KEYS[1]})
    assert response.status_code == 201, response.text


def test_unknown_id_without_a_key_is_401_not_404(keyed_api: httpx.Client) -> None:
    # Without a key nothing is said about whether an id exists.
    response = keyed_api.get(f"/image_prediction/{uuid.uuid4()}")
    assert response.status_code == 401


def test_key_in_the_query_string_is_not_accepted(
    keyed_api: httpx.Client, keyed_prediction_id: str
) -> None:
    response = keyed_api.get(
        f"/image_prediction/{keyed_prediction_id}", params={"X-API-Key": KEYS[0]}
    )
    assert response.status_code == 401


@pytest.mark.parametrize("key", WRONG_KEYS, ids=repr)
def test_delete_without_a_valid_key_is_401(
    keyed_api: httpx.Client, keyed_prediction_id: str, key: str | None
) -> None:
    headers = None if key is None else {"X-API-Key": key}
    response = keyed_api.delete(f"/image_prediction/{keyed_prediction_id}", headers=headers)
    assert response.status_code == 401, response.text
    still = keyed_api.get(
        f"/image_prediction/{keyed_prediction_id}", headers={"X-API-Key": KEYS[0]}
    )
    assert still.status_code == 200


def test_idempotency_keys_are_each_api_keys_own(keyed_api: httpx.Client) -> None:
    # Another client sending my Idempotency-Key neither reads my prediction (a 202 of it) nor
    # learns that the key is taken (a 422 for another image): its key is its own.
    def post(api_key: str, image: bytes) -> httpx.Response:
        headers = {"X-API-Key": api_key, "Idempotency-Key": "order-1234"}
        return keyed_api.post("/image_prediction", files={"image": ("a", image)}, headers=headers)

    mine = post(KEYS[0], jpeg())
    assert mine.status_code == 202, mine.text
    with_my_image, with_another = post(KEYS[1], jpeg()), post(KEYS[1], png())
    assert with_my_image.status_code == 202
    assert with_my_image.json()["image_prediction_id"] != mine.json()["image_prediction_id"]
    assert with_another.status_code == 422  # against its own first use, not mine
    assert post(KEYS[0], jpeg()).json() == mine.json()


@pytest.mark.parametrize("key", KEYS)
def test_each_configured_key_is_accepted(
    keyed_api: httpx.Client, keyed_prediction_id: str, key: str
) -> None:
    accepted = _post(keyed_api, {"X-API-Key": key})
    assert accepted.status_code == 202, accepted.text
    own = keyed_api.get(accepted.headers["location"], headers={"X-API-Key": key})
    assert own.status_code == 200, own.text
    # Keys are shared secrets, not identities: any valid key reads any id.
    other = keyed_api.get(f"/image_prediction/{keyed_prediction_id}", headers={"x-api-key": key})
    assert other.status_code == 200
    assert other.json()["image_prediction_id"] == keyed_prediction_id


@pytest.mark.parametrize("path", ["/openapi.json", "/no-such-route"])
def test_the_api_description_needs_a_key_too(keyed_api: httpx.Client, path: str) -> None:
    # Only /health and the pages (/, /docs: no data) answer without a key: the description
    # is for whoever holds one (/docs asks for it, tests/e2e/test_docs.py).
    response = keyed_api.get(path)
    assert response.status_code == 401, response.text
    assert _is_json_error(response)
    if path != "/no-such-route":
        assert keyed_api.get(path, headers={"X-API-Key": KEYS[1]}).status_code == 200


def test_health_needs_no_key(keyed_api: httpx.Client) -> None:
    response = keyed_api.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_keys_never_reach_the_logs(keyed_stack: RunningStack, keyed_api: httpx.Client) -> None:
    _post(keyed_api, {"X-API-Key": KEYS[1]})
    _post(keyed_api, {"X-API-Key": "wrong-key-7d1e0c"})
    for name in ("stack.log", "poller.log"):
        text = (keyed_stack.state_dir / name).read_text(errors="replace")
        for secret in (*KEYS, "wrong-key-7d1e0c"):
            assert secret not in text, f"{secret!r} in {name}"


def test_local_state_is_private_to_its_user(stack: RunningStack, emulator: Emulator) -> None:
    # Uploaded photos, logs with prediction ids and credentials: nobody else may read them.
    def mode(name: str) -> int:
        return (stack.state_dir / name).stat().st_mode & 0o777

    assert mode(".") & 0o066 == 0  # others may pass through to PostgreSQL's folder, not list
    private = ["stack.json", "poller-functions.json", "poller.log", f"{emulator}.log"]
    if emulator == "moto":
        assert mode("s3") == 0o700
        private.append("aws-identities.json")  # the functions' IAM users' keys
    else:
        assert mode("localstack") == 0o700
    for name in private:
        assert mode(name) == 0o600, name


def test_every_server_of_the_stack_listens_on_loopback_only(stack: RunningStack) -> None:
    # LocalStack listens on every interface unless told otherwise (local/localstack.py).
    processes = [psutil.Process(stack.process.pid)]
    processes += processes[0].children(recursive=True)
    listening = {
        (process.name(), connection.laddr.ip, connection.laddr.port)
        for process in processes
        for connection in process.net_connections(kind="inet")
        if connection.status == psutil.CONN_LISTEN
    }
    ports = {port for _, _, port in listening}
    assert set(stack.ports.values()) <= ports  # the gateway, the AWS endpoint, PostgreSQL
    assert {ip for _, ip, _ in listening} == {"127.0.0.1"}, listening
