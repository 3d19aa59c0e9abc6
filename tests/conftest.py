"""Shared fixtures: one local stack (moto server, PostgreSQL, gateway, poller, real model)
for the whole session, started by the tests themselves, exactly as `make local` runs it.

`--emulator localstack` starts the stacks on LocalStack instead of moto (`make test` runs the
end-to-end suite so too). LocalStack enforces no IAM: tests marked `iam` are not collected
(LACKING)."""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from dogdetect.adapters.aws import S3ImageStorage, aws_client
from dogdetect.adapters.postgres import PostgresPredictionRepository, make_engine
from dogdetect.config import Settings
from sqlalchemy import create_engine, text

from local.config import EMULATORS, Emulator
from local.launcher import RunningStack, running_stack

# Failed messages come back after this many seconds (the template's value is minutes).
TEST_VISIBILITY_TIMEOUT = 3
# Direct uploads' presigned POSTs expire after this many seconds, and their predictions end
# ERROR ("no upload received") this many seconds later (the template's: 900 and 300).
TEST_DIRECT_UPLOAD_EXPIRES_SECONDS = 10
TEST_DIRECT_UPLOAD_GRACE_SECONDS = 1
# The shared stack's signing secret, set in its environment as a user sets it for `make local`
# (tests/e2e/test_webhooks.py verifies with this one, not with what the stack reports).
TEST_WEBHOOK_SECRET = "whsec_" + "dGhlLXRlc3Qtc3RhY2tzLXNpZ25pbmcta2V5LTMyYg=="
TERMINAL = {"DONE", "ERROR"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--emulator",
        choices=EMULATORS,
        default="moto",
        help="the AWS endpoint the test stacks start (default: moto)",
    )


# What an emulator does not do as AWS does, by the marker of the tests that need it.
LACKING = {
    "moto": (),
    # IAM enforcement is a paid feature; 2026.3.0 stores a presigned POST's form fields that
    # its policy does not name, where S3 (and moto with local/s3_post.py) refuses them.
    "localstack": ("iam", "post_policy_fields"),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the tests that need what the chosen emulator does not do."""
    lacking = LACKING[config.getoption("--emulator")]
    left_out = [i for i in items if any(i.get_closest_marker(m) for m in lacking)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [i for i in items if i not in left_out]


@pytest.fixture(scope="session")
def emulator(pytestconfig: pytest.Config) -> Emulator:
    chosen: Emulator = pytestconfig.getoption("--emulator")
    return chosen


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, emulator: Emulator) -> Iterator[RunningStack]:
    with running_stack(
        tmp_path_factory.mktemp("stack"),
        emulator=emulator,
        visibility_timeout=TEST_VISIBILITY_TIMEOUT,
        settings={
            "DIRECT_UPLOAD_EXPIRES_SECONDS": str(TEST_DIRECT_UPLOAD_EXPIRES_SECONDS),
            "DIRECT_UPLOAD_GRACE_SECONDS": str(TEST_DIRECT_UPLOAD_GRACE_SECONDS),
            "WEBHOOK_SECRET": TEST_WEBHOOK_SECRET,
        },
    ) as running:
        # The tests' own boto3 clients sign with the same fake credentials as the stack.
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
            os.environ[name] = running.environment[name]
        yield running


# The keys of the second stack, started with API_KEYS: two for the key checks
# (tests/e2e/test_security.py), 25 clients for the waits (tests/e2e/test_waiting.py).
SECURITY_KEYS = ("first-key-9f2c41d07a", "second-key-51be8e33c6")
CLIENT_KEYS = tuple(f"waiting-client-{n:02d}" for n in range(25))


@pytest.fixture(scope="session")
def keyed_stack(
    tmp_path_factory: pytest.TempPathFactory, emulator: Emulator
) -> Iterator[RunningStack]:
    """A stack whose every route but /health wants one of the keys (spaces around a key in
    API_KEYS are trimmed, as documented: the first key is written with them)."""
    keys = f" {SECURITY_KEYS[0]} ," + ",".join((SECURITY_KEYS[1], *CLIENT_KEYS))
    folder = tmp_path_factory.mktemp("keyed-stack")
    with contextlib.ExitStack() as stack_of_its_own:
        # API_KEYS only while the stack starts (its processes copy the environment then):
        # the stacks other tests start later, and the unit tests' apps, must not see it.
        with pytest.MonkeyPatch.context() as env:
            env.setenv("API_KEYS", keys)
            running = stack_of_its_own.enter_context(
                running_stack(folder, visibility_timeout=TEST_VISIBILITY_TIMEOUT, emulator=emulator)
            )
        yield running


@pytest.fixture(scope="session")
def stack_settings(stack: RunningStack) -> Settings:
    env = stack.environment
    return Settings(
        database_url=env["DATABASE_URL"],
        aws_endpoint_url=env["AWS_ENDPOINT_URL"],
        bucket_name=env["BUCKET_NAME"],
        queue_url=env["QUEUE_URL"],
    )


@pytest.fixture(scope="session")
def master_database_url(stack: RunningStack) -> str:
    """The superuser's URL, which only the migration uses; the functions (and `repository`)
    connect as the least-privileged application role of DATABASE_URL."""
    return stack.environment["MASTER_DATABASE_URL"]


@pytest.fixture(scope="session")
def api(stack: RunningStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.api_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def repository(stack_settings: Settings) -> PostgresPredictionRepository:
    return PostgresPredictionRepository(make_engine(stack_settings.database_url))


@pytest.fixture(scope="session")
def storage(stack_settings: Settings) -> S3ImageStorage:
    s3 = aws_client("s3", stack_settings.aws_endpoint_url, stack_settings.aws_region)
    return S3ImageStorage(s3, stack_settings.bucket_name)


def eventually(
    check: Callable[[], Any],
    timeout: float,
    interval: float = 0.2,
    what: str = "condition",
) -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds, naming
    `what` was awaited."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"{what} not met within {timeout} s"
        time.sleep(interval)
    return result


def sql(stack: RunningStack, query: str, **params: Any) -> Any:
    """The rows of one query on the stack's database (its own short-lived engine)."""
    engine = create_engine(stack.environment["DATABASE_URL"])
    try:
        with engine.connect() as connection:
            return connection.execute(text(query), params).all()
    finally:
        engine.dispose()


def submit(api: httpx.Client, data: bytes, filename: str = "upload.jpg") -> httpx.Response:
    return api.post("/image_prediction", files={"image": (filename, data)})


def submit_backing_off(
    api: httpx.Client, data: bytes, filename: str = "upload.jpg"
) -> tuple[httpx.Response, int]:
    """Submit as a well-behaved client does: back off and send again while the gateway's
    throttling (429, as API Gateway's) refuses. The answer, and how many 429s came first.
    How many of a burst are throttled depends on how fast the machine answers, so a test
    about something else must not count on none."""
    for throttled in itertools.count():
        response = submit(api, data, filename)
        if response.status_code != 429:
            return response, throttled
        time.sleep(0.1 * 2 ** min(throttled, 4))
    raise AssertionError("unreachable")


def wait_terminal(api: httpx.Client, prediction_id: str, timeout: float = 60) -> dict[str, Any]:
    """The prediction's body once it is DONE or ERROR; fails the test, showing the last answer,
    when it is not terminal within `timeout` seconds, or at once on an answer other than 200,
    429 (the gateway's throttling: many waiters poll at once) or 503 (a dependency
    restarting)."""
    deadline = time.monotonic() + timeout
    while True:
        response = api.get(f"/image_prediction/{prediction_id}")
        if response.status_code == 200:
            body: dict[str, Any] = response.json()
            if body["status"] in TERMINAL:
                return body
        elif response.status_code not in (429, 503):
            raise AssertionError(
                f"prediction {prediction_id}: {response.status_code} {response.text}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(
                f"prediction {prediction_id} not DONE or ERROR within {timeout} s; "
                f"last answer: {response.status_code} {response.text}"
            )
        time.sleep(0.25)


def queue_empty(sqs: Any, url: str) -> bool:
    """No message waiting or in flight (as SQS counts them)."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return all(v == "0" for v in attributes.values())
