"""The migration custom resource: every request CloudFormation sends (tests/events/migrate_*.json)
gets an answer, whatever fails, before the function times out; Delete never touches the
database. The migration, the answer's transport and the clock are passed in as fakes."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError
from dogdetect.adapters.cloudformation import put_response
from dogdetect.config import Settings
from dogdetect.runtime.custom_resource import (
    ANSWER_ATTEMPTS,
    ANSWER_SECONDS,
    GRACE_SECONDS,
    LEFT_AS_IT_IS,
    PHYSICAL_RESOURCE_ID,
    ResponseNotDelivered,
    answer,
)
from dogdetect.runtime.migrate import NEWER, Limits, migrate_from_settings

from local.functions import load_function
from local.launcher import free_port
from tests.unit.conftest import FakeLambdaContext, load_event

migrate_app = load_function("migrate")
UPGRADED = "schema upgraded to head"


@dataclass(frozen=True)
class Context(FakeLambdaContext):
    """A Lambda context with the migrate function's time left (its Timeout is 300 s)."""

    remaining_ms: int = 300_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class Answers:
    """Records what is PUT to CloudFormation; `failures` answers fail first (an exception or
    an HTTP status each)."""

    def __init__(self, *failures: Exception | int) -> None:
        self.failures = list(failures)
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, url: str, body: bytes) -> int:
        self.sent.append((url, json.loads(body)))
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return failure
        return 200

    @property
    def only(self) -> dict[str, Any]:
        ((_, body),) = self.sent
        return body


class Migration:
    """A fake migration: records the seconds it was given; `outcome` returned or raised."""

    def __init__(self, outcome: str | Exception = UPGRADED) -> None:
        self.outcome = outcome
        self.budgets: list[float] = []

    def __call__(self, seconds: float) -> str:
        self.budgets.append(seconds)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def run(
    event: dict[str, Any],
    migrate: Callable[[float], str],
    answers: Answers | None = None,
    remaining_ms: int = 300_000,
) -> Answers:
    answers = answers or Answers()
    migrate_app.handler(event, Context(remaining_ms=remaining_ms), migrate=migrate, respond=answers)
    return answers


def no_sleep(_seconds: float) -> None:
    return None


@pytest.fixture
def migrate_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The function's environment, emptied of what the test process may carry."""
    for name in ("DATABASE_URL", "DATABASE_SECRET_ARN", "DATABASE_PORT", "DATABASE_HOST"):
        monkeypatch.delenv(name, raising=False)
    for name in ("APP_DATABASE_SECRET_ARN", "APP_DATABASE_USER", "APP_DATABASE_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# -- the requests ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["migrate_create", "migrate_update"])
def test_create_and_update_migrate_and_succeed(name: str) -> None:
    event = load_event(name)
    migration = Migration()
    ((url, body),) = run(event, migration).sent
    assert len(migration.budgets) == 1
    assert url == event["ResponseURL"]
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == PHYSICAL_RESOURCE_ID
    assert (body["StackId"], body["RequestId"], body["LogicalResourceId"]) == (
        event["StackId"],
        event["RequestId"],
        "DatabaseMigrations",
    )
    assert body["Data"] == {"Message": UPGRADED}


def test_a_rollback_onto_a_newer_schema_succeeds() -> None:
    # CloudFormation rolls an Update back with another Update carrying the old properties; the
    # older code finds a revision it does not know (dogdetect.runtime.migrate, NEWER) and leaves it.
    event = load_event("migrate_update")
    rollback = {
        **event,
        "ResourceProperties": event["OldResourceProperties"],
        "OldResourceProperties": event["ResourceProperties"],
    }
    body = run(rollback, Migration(NEWER)).only
    assert (body["Status"], body["Data"]) == ("SUCCESS", {"Message": NEWER})


def test_delete_never_touches_the_database(migrate_environment: pytest.MonkeyPatch) -> None:
    # Settings that cannot even be read: Delete must not need them.
    migrate_environment.setenv("DATABASE_PORT", "not a port")
    body = run(load_event("migrate_delete"), migrate_app.migrate_from_environment).only
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == "dogdetect-schema"  # the event's, kept
    assert body["Data"] == {"Message": LEFT_AS_IT_IS}


def test_delete_does_not_call_the_migration() -> None:
    migration = Migration()
    assert run(load_event("migrate_delete"), migration).only["Status"] == "SUCCESS"
    assert migration.budgets == []


# -- every failure is answered --------------------------------------------------------------


def test_a_failed_migration_fails_the_deploy_with_the_reason() -> None:
    body = run(load_event("migrate_create"), Migration(RuntimeError("relation exists"))).only
    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith("RuntimeError: relation exists")
    assert Context().log_stream_name in body["Reason"]


def test_bad_settings_fail_the_deploy(migrate_environment: pytest.MonkeyPatch) -> None:
    migrate_environment.setenv("DATABASE_PORT", "not a port")
    body = run(load_event("migrate_create"), migrate_app.migrate_from_environment).only
    assert body["Status"] == "FAILED"
    assert "ValidationError" in body["Reason"] and "database_port" in body["Reason"]


def test_no_app_role_login_fails_the_deploy(migrate_environment: pytest.MonkeyPatch) -> None:
    migrate_environment.setenv("DATABASE_URL", f"postgresql+pg8000://u@127.0.0.1:{free_port()}/x")
    body = run(load_event("migrate_update"), migrate_app.migrate_from_environment).only
    assert body["Status"] == "FAILED"
    assert "APP_DATABASE_SECRET_ARN" in body["Reason"]


class DeniedSecrets:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def get_secret_value(self, SecretId: str) -> dict[str, Any]:
        self.asked.append(SecretId)
        error = {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}
        raise ClientError(error, "GetSecretValue")  # type: ignore[arg-type]


def test_a_secret_that_cannot_be_read_fails_the_deploy() -> None:
    secrets = DeniedSecrets()
    settings = Settings(
        database_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:master",
        app_database_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:app",
        database_host="proxy.internal",
    )

    def migrate(seconds: float) -> str:
        return migrate_from_settings(settings, Limits(seconds), secrets_client=secrets)

    body = run(load_event("migrate_create"), migrate).only
    assert body["Status"] == "FAILED"
    assert "AccessDeniedException" in body["Reason"]
    assert secrets.asked  # the failure was the secret's


def test_an_unreachable_database_fails_the_deploy() -> None:
    settings = Settings(
        database_url=f"postgresql+pg8000://postgres@127.0.0.1:{free_port()}/dogdetect",
        app_database_password="app-password",  # type: ignore[arg-type]
    )

    def migrate(seconds: float) -> str:
        return migrate_from_settings(settings, Limits(seconds))

    body = run(load_event("migrate_create"), migrate).only
    assert body["Status"] == "FAILED"
    assert "refused" in body["Reason"].lower()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never says a word: a
    database behind a broken network path."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def test_a_database_that_never_answers_fails_before_the_function_times_out(
    silent_server: int,
) -> None:
    settings = Settings(
        database_url=f"postgresql+pg8000://postgres@127.0.0.1:{silent_server}/dogdetect",
        app_database_password="app-password",  # type: ignore[arg-type]
    )
    remaining = GRACE_SECONDS + ANSWER_SECONDS + 2  # two seconds to migrate in

    def migrate(seconds: float) -> str:
        return migrate_from_settings(settings, Limits(seconds))

    started = time.monotonic()
    body = run(load_event("migrate_create"), migrate, remaining_ms=int(remaining * 1000)).only
    assert body["Status"] == "FAILED"
    assert time.monotonic() - started < remaining - ANSWER_SECONDS  # time left to answer


def test_a_migration_past_its_own_limits_is_abandoned_in_time() -> None:
    release = threading.Event()

    def hangs(_seconds: float) -> str:
        release.wait(60)
        return UPGRADED

    remaining = GRACE_SECONDS + ANSWER_SECONDS + 1
    started = time.monotonic()
    try:
        body = run(load_event("migrate_update"), hangs, remaining_ms=int(remaining * 1000)).only
    finally:
        release.set()
    assert body["Status"] == "FAILED" and "MigrationTimedOut" in body["Reason"]
    assert time.monotonic() - started < remaining - ANSWER_SECONDS + 0.5


def test_the_migration_gets_the_time_left_less_the_answers() -> None:
    migration = Migration()
    run(load_event("migrate_create"), migration, remaining_ms=120_000)
    assert migration.budgets == [120 - GRACE_SECONDS - ANSWER_SECONDS]


def test_too_little_time_left_fails_at_once() -> None:
    migration = Migration()
    body = run(load_event("migrate_create"), migration, remaining_ms=10_000).only
    assert body["Status"] == "FAILED" and "too little" in body["Reason"]
    assert migration.budgets == []


@pytest.mark.parametrize("missing", ["RequestType", "StackId", "RequestId", "LogicalResourceId"])
def test_an_event_missing_a_key_is_still_answered(missing: str) -> None:
    event = load_event("migrate_create")
    del event[missing]
    body = run(event, Migration()).only
    if missing == "RequestType":
        assert body["Status"] == "FAILED" and "RequestType" in body["Reason"]
    else:
        assert body[missing] == ""  # CloudFormation's to judge; the stack still hears back


def test_an_unknown_request_type_fails() -> None:
    event = {**load_event("migrate_create"), "RequestType": "Import"}
    migration = Migration()
    assert run(event, migration).only["Status"] == "FAILED"
    assert migration.budgets == []


def test_an_event_without_a_response_url_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    event = load_event("migrate_create")
    del event["ResponseURL"]
    with caplog.at_level(logging.ERROR, logger="dogdetect.runtime.custom_resource"):
        answers = run(event, Migration())
    assert answers.sent == []
    assert "no ResponseURL" in caplog.text


# -- the answer itself ----------------------------------------------------------------------


def test_a_failed_answer_is_sent_again() -> None:
    answers = Answers(OSError("connection reset"), 503)
    slept: list[float] = []
    sent = answer(load_event("migrate_create"), 300, Migration(), answers, sleep=slept.append)
    assert [body for _, body in answers.sent] == [sent] * 3
    assert sent["Status"] == "SUCCESS"
    assert slept == [1.0, 2.0]


def test_an_answer_that_never_gets_through_is_logged_and_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Raised so that Lambda's retry of the asynchronous invocation answers again.
    answers = Answers(*[OSError("no route to host")] * ANSWER_ATTEMPTS)
    with (
        caplog.at_level(logging.WARNING, logger="dogdetect.runtime.custom_resource"),
        pytest.raises(ResponseNotDelivered, match="no route to host"),
    ):
        answer(load_event("migrate_delete"), 300, Migration(), answers, sleep=no_sleep)
    assert len(answers.sent) == ANSWER_ATTEMPTS
    assert "not answered after 3 attempts" in caplog.text


def test_the_handler_raises_when_the_answer_cannot_be_delivered() -> None:
    answers = Answers(*[500] * ANSWER_ATTEMPTS)
    with pytest.raises(ResponseNotDelivered):
        run(load_event("migrate_delete"), Migration(), answers)
    assert len(answers.sent) == ANSWER_ATTEMPTS


def test_only_https_response_urls() -> None:
    with pytest.raises(ValueError, match="https"):
        put_response("file:///etc/passwd", b"{}")
