"""The migration custom resource's side of CloudFormation's protocol: every request gets an
answer, SUCCESS or FAILED, before the function times out, or the stack waits for an hour.
Delete never touches the database; Create and Update migrate within the time left."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from dogdetect.adapters.cloudformation import response_body

logger = logging.getLogger(__name__)

PHYSICAL_RESOURCE_ID = "dogdetect-schema"
LEFT_AS_IT_IS = "schema left as it is"
# Kept back from the time the function has left: the wait for a migration past its own limits,
# then the answer with its retries (3 PUTs of at most 5 s, 1 s and 2 s apart).
GRACE_SECONDS = 5.0
ANSWER_SECONDS = 20.0
ANSWER_ATTEMPTS = 3
MIGRATING = ("Create", "Update")  # an Update also rolls back to older code (NEWER then)

Migrate = Callable[[float], str]  # seconds it may take -> what it did
Respond = Callable[[str, bytes], int]  # (ResponseURL, body) -> HTTP status


class MigrationTimedOut(Exception):
    pass


class ResponseNotDelivered(Exception):
    pass


def answer(
    event: dict[str, Any],
    seconds_left: float,
    migrate: Migrate,
    respond: Respond,
    log_stream: str = "",
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Handle one request and answer it; returns the answer sent. Raises only when the answer
    could not be delivered, so that Lambda's retry of the asynchronous invocation tries again."""
    status, reason, data = _outcome(event, seconds_left, migrate, log_stream)
    body = response_body(event, status, reason, PHYSICAL_RESOURCE_ID, data)
    logger.info(
        "answering CloudFormation: %s",
        status,
        extra={"request_type": event.get("RequestType"), "reason": reason},
    )
    url = event.get("ResponseURL")
    if not url:
        logger.error("the event has no ResponseURL: nobody to answer")
    else:
        deliver(url, body, respond, sleep)
    answered: dict[str, Any] = json.loads(body)
    return answered


def _outcome(
    event: dict[str, Any], seconds_left: float, migrate: Migrate, log_stream: str
) -> tuple[str, str, dict[str, str]]:
    request_type = event.get("RequestType")
    if request_type == "Delete":
        # Deleting the stack, or replacing this resource, never drops data.
        return "SUCCESS", LEFT_AS_IT_IS, {"Message": LEFT_AS_IT_IS}
    try:
        if request_type not in MIGRATING:
            raise ValueError(f"unknown RequestType {request_type!r}")
        budget = seconds_left - GRACE_SECONDS - ANSWER_SECONDS
        if budget <= 0:
            raise MigrationTimedOut(f"only {seconds_left:.0f} s left: too little to migrate")
        message = within(budget + GRACE_SECONDS, lambda: migrate(budget))
        return "SUCCESS", message, {"Message": message}
    except Exception as exc:  # any failure must reach CloudFormation, or the deploy hangs
        logger.exception("migration failed")
        return "FAILED", f"{type(exc).__name__}: {exc} (log stream {log_stream})", {}


def within(seconds: float, work: Callable[[], str]) -> str:
    """`work()`, or MigrationTimedOut after `seconds`. The migration's own limits (connect,
    statement, lock timeouts) end it on time; this holds even if they do not."""
    outcome: list[str] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=run, name="migration", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise MigrationTimedOut(f"the migration did not finish within {seconds:.0f} s")
    if failure:
        raise failure[0]
    return outcome[0]


def deliver(
    url: str,
    body: bytes,
    respond: Respond,
    sleep: Callable[[float], None] = time.sleep,
    attempts: int = ANSWER_ATTEMPTS,
) -> None:
    for attempt in range(1, attempts + 1):
        try:
            status = respond(url, body)
            if 200 <= status < 300:
                return
            problem = f"HTTP {status}"
        except Exception as exc:  # a network fault, an expired URL: try again
            problem = f"{type(exc).__name__}: {exc}"
        logger.warning(
            "answer not delivered to CloudFormation (attempt %d of %d): %s",
            attempt,
            attempts,
            problem,
        )
        if attempt < attempts:
            sleep(2.0 ** (attempt - 1))
    logger.error("CloudFormation was not answered after %d attempts", attempts)
    raise ResponseNotDelivered(f"{attempts} attempts failed, the last: {problem}")
