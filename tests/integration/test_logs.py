"""The stack's logs carry no image bytes, no S3 keys and no secrets.

Photos (accepted, refused, and one whose stored image vanished so the worker fails it until
it gives up) go through the session stack; then the logs the functions write are searched: the
gateway's (`stack.log`: submit and status) and the worker's (`poller.log`: predict, sweep).
The AWS secret key of the local stack is "test", too short to search for."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
import psutil
import pytest
from dogdetect.adapters.aws import aws_client
from dogdetect.adapters.postgres import PostgresPredictionRepository
from dogdetect.config import Settings
from dogdetect.domain.jobs import job_to_body
from dogdetect.domain.models import Job, Status, image_key_for
from sqlalchemy.engine import make_url

from local.launcher import RunningStack
from tests.conftest import TEST_VISIBILITY_TIMEOUT, eventually, queue_empty, wait_terminal
from tests.photos import photo

LOGS = ("stack.log", "poller.log")
API_KEY = f"key-{uuid.uuid4().hex}"  # sent although the session stack checks none
# The stack's processes that run none of our code: PostgreSQL's and the AWS endpoint's.
POSTGRES_PROCESS = "postgres"
AWS_ENDPOINT_MODULE = "local.aws_server"


def _log_bytes(stack: RunningStack) -> dict[str, bytes]:
    return {name: (stack.state_dir / name).read_bytes() for name in LOGS}


def _base64_fragments(data: bytes) -> list[bytes]:
    """Base64 of the data's start at each of the three alignments, trimmed of the edge
    characters that depend on neighbouring bytes: what any base64 of the whole would contain."""
    return [base64.b64encode(data[shift : shift + 60])[4:-4] for shift in range(3)]


def _forbidden(data: bytes) -> list[bytes]:
    head = data[:24]
    return [
        head,  # raw bytes
        repr(head)[2:-1].encode(),  # as Python would print them: b'\xff\xd8...'
        head.hex().encode(),
        *_base64_fragments(data),
        *(f.replace(b"+", b"-").replace(b"/", b"_") for f in _base64_fragments(data)),
    ]


@pytest.fixture(scope="module")
def traffic(
    api: httpx.Client,
    stack: RunningStack,
    stack_settings: Settings,
    repository: PostgresPredictionRepository,
) -> dict[str, Any]:
    headers = {"X-API-Key": API_KEY}
    accepted = {"dog.jpg": photo("dog.jpg"), "horses.jpg": photo("horses.jpg")}
    ids = []
    for name, data in accepted.items():
        response = api.post("/image_prediction", files={"image": (name, data)}, headers=headers)
        assert response.status_code == 202, response.text
        ids.append(response.json()["image_prediction_id"])
    refused = {
        "truncated.jpg": photo("dog.jpg")[:5000],  # a JPEG start: refused only when decoded
        "page.html": b"<html><body>" + uuid.uuid4().hex.encode() * 20 + b"</body></html>",
        "noise.bin": uuid.uuid4().bytes * 64,
    }
    for name, data in refused.items():
        response = api.post("/image_prediction", files={"image": (name, data)}, headers=headers)
        assert response.status_code == 415, response.text
    for prediction_id in ids:
        assert wait_terminal(api, prediction_id)["status"] == "DONE"
        read = api.get(f"/image_prediction/{prediction_id}", headers=headers)
        assert read.status_code == 200
    # A job whose image is not in the bucket: the worker fails it until it gives up.
    missing = uuid.uuid4()
    repository.add_pending(missing, image_key_for(missing))
    sqs = aws_client("sqs", stack_settings.aws_endpoint_url, stack_settings.aws_region)
    job = Job(missing, stack_settings.bucket_name, image_key_for(missing))
    sqs.send_message(QueueUrl=stack_settings.queue_url, MessageBody=job_to_body(job))
    attempts = int(stack.environment["MAX_RECEIVE_COUNT"])
    eventually(
        lambda: (found := repository.get(missing)) is not None and found.status is Status.ERROR,
        attempts * TEST_VISIBILITY_TIMEOUT + 30,
        what="the worker giving up on the missing image",
    )
    # The last attempt's lines are written before the worker asks for its next batch, and only
    # that request moves the spent message to the dead-letter queue: once the jobs queue is
    # empty, they are in the file.
    eventually(
        lambda: queue_empty(sqs, stack_settings.queue_url),
        TEST_VISIBILITY_TIMEOUT + 30,
        what="the spent job leaving the jobs queue",
    )
    return {
        "images": {**accepted, **refused},
        "keys": [image_key_for(uuid.UUID(i)) for i in ids] + [image_key_for(missing)],
        "ids": [*ids, str(missing)],
    }


def test_logs_hold_the_functions_output(stack: RunningStack, traffic: dict[str, Any]) -> None:
    # The searches below mean something only if these files are where the functions write:
    # every process of the stack that runs our code sends stdout and stderr to one of them.
    wanted = {str((stack.state_dir / name).resolve()) for name in LOGS}
    outputs = _outputs_of_our_processes(stack)
    for command, files in outputs.items():
        assert files and files <= wanted, f"{command} writes to {files or 'no file'}"
    assert set().union(*outputs.values()) == wanted
    # And they hold it: the worker's traceback for the missing image is where a key or a path
    # would show first.
    assert b"StoredImageMissing" in _log_bytes(stack)["poller.log"]


@pytest.mark.parametrize(
    "name", ["dog.jpg", "horses.jpg", "truncated.jpg", "page.html", "noise.bin"]
)
def test_no_image_bytes_in_logs(stack: RunningStack, traffic: dict[str, Any], name: str) -> None:
    for log, text in _log_bytes(stack).items():
        for fragment in _forbidden(traffic["images"][name]):
            assert fragment not in text, f"{name} bytes in {log}: {fragment[:40]!r}"


def test_no_s3_keys_in_logs(stack: RunningStack, traffic: dict[str, Any]) -> None:
    for log, text in _log_bytes(stack).items():
        for key in traffic["keys"]:
            assert key.encode() not in text, f"{key} in {log}"


def test_no_api_key_in_logs(stack: RunningStack, traffic: dict[str, Any]) -> None:
    for log, text in _log_bytes(stack).items():
        assert API_KEY.encode() not in text, f"the X-API-Key value is in {log}"


def test_no_database_password_in_logs(stack: RunningStack, traffic: dict[str, Any]) -> None:
    secrets = _database_passwords(stack.environment)
    # The functions connect as the application role, with a password: without one there is
    # nothing to search for, and this test would prove nothing.
    assert secrets, "the stack gives the functions no database password to search the logs for"
    for log, text in _log_bytes(stack).items():
        for secret in secrets:
            assert secret.encode() not in text, f"a database password is in {log}"


def _database_passwords(environment: dict[str, str]) -> set[str]:
    """The password in the functions' database URL, and any *PASSWORD* variable they get."""
    url = make_url(environment["DATABASE_URL"])
    found = {v for k, v in environment.items() if "PASSWORD" in k.upper() and v}
    return found | ({str(url.password)} if url.password else set())


def _outputs_of_our_processes(stack: RunningStack) -> dict[str, set[str]]:
    """Process (pid and command line) -> the files its stdout and stderr go to, for each
    process of the stack (the gateway, the worker and whatever they start) but PostgreSQL and
    the AWS endpoint."""
    root = psutil.Process(stack.process.pid)
    outputs = {}
    for process in [root, *root.children(recursive=True)]:
        try:
            command = " ".join(process.cmdline())
            if process.name() == POSTGRES_PROCESS or AWS_ENDPOINT_MODULE in command:
                continue
            files = {f.path for f in process.open_files() if f.fd in (1, 2)}
            outputs[f"{process.pid} {command}"] = files
        except psutil.NoSuchProcess:  # ended meanwhile
            continue
    return outputs


def test_no_webhook_secret_path_or_query_in_logs(api: httpx.Client, stack: RunningStack) -> None:
    """notify logs a try by the host it went to; the URL's path and query are the client's (a
    token), and the signing secret is the service's."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    delivered = threading.Event()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(204)
            self.end_headers()
            delivered.set()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True).start()
    path, token = f"/hook-{uuid.uuid4().hex}", uuid.uuid4().hex
    try:
        response = api.post(
            "/image_prediction",
            files={"image": ("dog.jpg", photo("dog.jpg"))},
            data={"webhook": f"http://127.0.0.1:{server.server_address[1]}{path}?token={token}"},
        )
        assert response.status_code == 202, response.text
        assert delivered.wait(60), "the webhook was not delivered"
        eventually(
            lambda: b"webhook delivered" in _log_bytes(stack)["poller.log"],
            10,
            what="notify's line in poller.log",
        )
        logs = _log_bytes(stack)
    finally:
        server.shutdown()
        server.server_close()
    secret = stack.environment["WEBHOOK_SECRET"]
    key = base64.b64decode(secret.removeprefix("whsec_"))
    for log, text in logs.items():
        for forbidden in (path.encode(), token.encode(), secret.removeprefix("whsec_").encode()):
            assert forbidden not in text, f"{forbidden!r} is in {log}"
        assert key not in text and key.hex().encode() not in text, f"the signing key is in {log}"
