"""Faults on a stack of this module's own: PostgreSQL, the AWS endpoint or the predict worker
killed hard, and what a client sees meanwhile and after. Nothing lost, nothing half-done."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import httpx
import psutil
import pytest
from dogdetect.adapters.aws import aws_client

from local.aws import ensure_resources, start_moto
from local.config import LocalConfig
from local.launcher import RunningStack, running_stack
from local.postgres import EmbeddedPostgres
from local.processes import stop
from local.template import queue_config
from tests.conftest import TEST_VISIBILITY_TIMEOUT, eventually, sql, submit, wait_terminal
from tests.photos import photo

DOG_DETECTIONS = 4  # dog.jpg: dog, bicycle, car, truck
# The source line a predict traceback shows when the batch's first database call failed (the
# worker logs it once for each prediction of the batch).
FAILED_AT_START_PROCESSING = b"deps.repository.start_processing_many(list(groups))"


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    state = tmp_path_factory.mktemp("fault-stack")
    with (
        running_stack(state, visibility_timeout=TEST_VISIBILITY_TIMEOUT) as stack,
        pytest.MonkeyPatch.context() as env,
    ):
        # This module's clients sign as this stack's identity; the session stack's come back
        # after it (each stack has identities of its own).
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
            env.setenv(name, stack.environment[name])
        yield stack


@pytest.fixture
def client(fault_stack: RunningStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fault_stack.api_url, timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def restarted(request: pytest.FixtureRequest) -> Callable[[Callable[[], None]], None]:
    """Register how to stop what a test starts in place of a killed service (it serves the
    rest of the module, as the original would have)."""

    def on_teardown(stopper: Callable[[], None]) -> None:
        request.addfinalizer(stopper)

    return on_teardown


def object_count(stack: RunningStack) -> int:
    s3 = aws_client("s3", stack.environment["AWS_ENDPOINT_URL"], "us-east-1")
    return int(s3.list_objects_v2(Bucket=stack.environment["BUCKET_NAME"]).get("KeyCount", 0))


def _gone(process: psutil.Process) -> bool:
    """Dead: reaped, or a zombie its parent has not reaped yet."""
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def aws_server(stack: RunningStack) -> psutil.Process:
    """The stack's AWS endpoint: its child, or the one a test started after killing it."""
    port = str(stack.ports["aws"])
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "local.aws_server" in cmdline and port in cmdline:
            return process
    raise LookupError(f"no AWS endpoint on port {port}")


def kill_hard(process: psutil.Process) -> None:
    """SIGKILL, then wait until it is gone."""
    process.kill()
    eventually(lambda: _gone(process), 10, 0.05, f"process {process.pid} gone after SIGKILL")


def kill_postgres(stack: RunningStack) -> None:
    """The stack's server, or the one a test started in its place."""
    data = f"-D {stack.state_dir / 'postgres' / 'data'}"
    for process in psutil.process_iter(["cmdline"]):
        if data in " ".join(process.info["cmdline"] or ()):
            kill_hard(process)
            return
    raise LookupError("PostgreSQL of the fault stack is not running")


def restart_postgres(
    stack: RunningStack, on_teardown: Callable[[Callable[[], None]], None]
) -> None:
    server = EmbeddedPostgres(stack.state_dir / "postgres", "127.0.0.1", stack.ports["pg"])
    server.start()
    on_teardown(server.stop)


def restart_aws(stack: RunningStack, on_teardown: Callable[[Callable[[], None]], None]) -> None:
    queue = replace(
        queue_config(),
        visibility_timeout_seconds=TEST_VISIBILITY_TIMEOUT,
        dead_letter_visibility_timeout_seconds=TEST_VISIBILITY_TIMEOUT,
    )
    config = LocalConfig(state_dir=stack.state_dir, aws_port=stack.ports["aws"], queue_config=queue)
    moto = start_moto(config, stack.state_dir / "moto-restarted.log", restart=True)
    on_teardown(lambda: stop(moto.process))
    ensure_resources(config, config.aws_endpoint)


def assert_503_json(response: httpx.Response, dependency: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert dependency in response.json()["detail"]


def test_database_down_during_submit_then_back(
    fault_stack: RunningStack, client: httpx.Client, restarted: Any
) -> None:
    objects = object_count(fault_stack)
    kill_postgres(fault_stack)

    assert_503_json(submit(client, photo("dog.jpg")), "database")
    health = client.get("/health")
    assert health.status_code == 503 and health.json()["checks"]["database"] == "unavailable"
    assert object_count(fault_stack) == objects  # nothing stored, so nothing to queue either

    restart_postgres(fault_stack, restarted)
    accepted = submit(client, photo("dog.jpg"))  # no restart of the service needed
    assert accepted.status_code == 202
    assert wait_terminal(client, accepted.json()["image_prediction_id"])["has_dog"] is True


def test_aws_endpoint_down_during_submit_leaves_no_pending_row(
    fault_stack: RunningStack, client: httpx.Client, restarted: Any
) -> None:
    rows = sql(fault_stack, "SELECT count(*) FROM predictions")[0][0]
    kill_hard(aws_server(fault_stack))

    assert_503_json(submit(client, photo("dog.jpg")), "storage")
    checks = client.get("/health").json()["checks"]
    assert checks == {"database": "ok", "storage": "unavailable", "queue": "unavailable"}
    assert sql(fault_stack, "SELECT count(*) FROM predictions")[0][0] == rows

    restart_aws(fault_stack, restarted)
    accepted = submit(client, photo("dog.jpg"))
    assert accepted.status_code == 202
    assert wait_terminal(client, accepted.json()["image_prediction_id"])["has_dog"] is True


# A paused endpoint accepts connections and never answers. Every call has connect and read
# timeouts of seconds (2 tries x 3 s), and /health asks its dependencies at once: the answer
# comes in about 6 s, not the minute it once took. The bound leaves room for a busy machine.
PAUSED_ANSWER_SECONDS = 15


def test_aws_endpoint_paused_answers_503_within_seconds(
    fault_stack: RunningStack, client: httpx.Client
) -> None:
    rows = sql(fault_stack, "SELECT count(*) FROM predictions")[0][0]
    endpoint = aws_server(fault_stack)
    endpoint.suspend()
    try:
        started = time.monotonic()
        health = client.get("/health")
        health_seconds = time.monotonic() - started
        started = time.monotonic()
        refused = submit(client, photo("dog.jpg"))
        submit_seconds = time.monotonic() - started
    finally:
        endpoint.resume()
    assert health.status_code == 503
    assert health.json()["checks"]["storage"] == "unavailable"
    assert_503_json(refused, "storage")
    assert health_seconds < PAUSED_ANSWER_SECONDS, health_seconds
    assert submit_seconds < PAUSED_ANSWER_SECONDS, submit_seconds
    assert sql(fault_stack, "SELECT count(*) FROM predictions")[0][0] == rows
    accepted = submit(client, photo("dog.jpg"))  # the endpoint is back: so is the service
    assert accepted.status_code == 202, accepted.text


def _submit_many(client: httpx.Client, count: int) -> list[str]:
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: submit(client, photo("dog.jpg")), range(count)))
    assert [r.status_code for r in responses] == [202] * count
    return [r.json()["image_prediction_id"] for r in responses]


def _assert_done_exactly_once(stack: RunningStack, client: httpx.Client, ids: list[str]) -> None:
    for prediction_id in ids:
        result = wait_terminal(client, prediction_id, timeout=90)
        assert (result["status"], result["has_dog"]) == ("DONE", True), result
    counts = sql(
        stack,
        "SELECT p.id, count(d.id) FROM predictions p LEFT JOIN detections d "
        "ON d.prediction_id = p.id WHERE p.id::text IN ("
        + ",".join(f"'{i}'" for i in ids)
        + ") GROUP BY p.id",
    )
    assert sorted(c for _, c in counts) == [DOG_DETECTIONS] * len(ids)


def test_worker_killed_mid_batch_loses_nothing_and_duplicates_nothing(
    fault_stack: RunningStack, client: httpx.Client
) -> None:
    worker = fault_stack.child("local.poller")
    worker.suspend()  # let a full batch gather
    ids = _submit_many(client, 10)
    worker.resume()
    processing = "SELECT 1 FROM predictions WHERE status = 'PROCESSING'"
    eventually(lambda: sql(fault_stack, processing), timeout=30, interval=0.01)
    kill_hard(worker)  # SIGKILL in the middle of the batch

    _assert_done_exactly_once(fault_stack, client, ids)
    assert fault_stack.child("local.poller").pid != worker.pid  # a new worker took over


def _failed_attempts(stack: RunningStack, since: int) -> int:
    """Jobs whose processing failed at the first database call, logged after byte `since` of
    the worker's log."""
    with open(stack.state_dir / "poller.log", "rb") as log:
        log.seek(since)
        return log.read().count(FAILED_AT_START_PROCESSING)


def test_database_down_during_predict_is_retried_until_done(
    fault_stack: RunningStack, client: httpx.Client, restarted: Any
) -> None:
    worker = fault_stack.child("local.poller")
    worker.suspend()
    ids = _submit_many(client, 3)
    kill_postgres(fault_stack)
    seen = (fault_stack.state_dir / "poller.log").stat().st_size
    worker.resume()  # takes the batch and fails it: the messages return after the timeout
    # Bring the database back only once every job has failed on it (each failure's traceback
    # passes through this line of the predict service), so that what follows is a retry.
    eventually(
        lambda: _failed_attempts(fault_stack, seen) >= len(ids),
        30,
        what=f"{len(ids)} predict attempts failed while the database was down",
    )
    restart_postgres(fault_stack, restarted)

    _assert_done_exactly_once(fault_stack, client, ids)
