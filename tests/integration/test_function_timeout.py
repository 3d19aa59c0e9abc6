"""Nothing stuck, ever: on a local stack whose predict always runs past its timeout, the
prediction ends ERROR with a reason, through the same path as in the cloud: each invocation
is killed at the function's timeout, the message returns after the visibility timeout, after
maxReceiveCount receives it moves to the dead-letter queue, and the dead-letter consumer
marks the row ERROR. Nothing else changes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import boto3
import httpx

from local.launcher import running_stack
from local.template import queue_config
from tests.conftest import (
    TEST_VISIBILITY_TIMEOUT,
    eventually,
    queue_empty,
    submit,
    wait_terminal,
)
from tests.photos import photo

# Shorter than any predict can be (a storage read, a decode and inference), so every
# invocation times out: the function's own Timeout from the template is 60 s.
PREDICT_TIMEOUT_SECONDS = 0.01


def test_a_predict_that_always_times_out_ends_error(tmp_path: Path) -> None:
    attempts = queue_config().max_receive_count
    with (
        running_stack(
            tmp_path,
            visibility_timeout=TEST_VISIBILITY_TIMEOUT,
            function_timeouts={"predict": PREDICT_TIMEOUT_SECONDS},
        ) as stack,
        httpx.Client(base_url=stack.api_url, timeout=30) as api,
    ):
        accepted = submit(api, photo("dog.jpg"))
        assert accepted.status_code == 202, accepted.text
        prediction_id = accepted.json()["image_prediction_id"]
        # Each attempt: a cold start (the model loads again), the timeout, the visibility timeout.
        body = wait_terminal(api, prediction_id, timeout=attempts * (TEST_VISIBILITY_TIMEOUT + 20))
        assert body["status"] == "ERROR"
        assert body["error"] == (
            f"gave up: the prediction did not finish after {attempts} attempts "
            "(it failed or timed out each time)"
        )
        assert body["has_dog"] is None
        assert body["detections"] == []
        env = stack.environment
        sqs = boto3.session.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        ).client("sqs", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_DEFAULT_REGION"])
        dead_letters = sqs.get_queue_url(QueueName="dogdetect-jobs-dlq")["QueueUrl"]
        eventually(lambda: queue_empty(sqs, env["QUEUE_URL"]), 30, what="jobs queue empty")
        eventually(lambda: queue_empty(sqs, dead_letters), 30, what="dead letters consumed")
        # One timeout per attempt of the photo's message. The S3 test event the bucket sends
        # at start may time out too (0.01 s): it is another message. A cold start longer than
        # the visibility timeout (a busy machine) lets a message reach the dead-letter queue,
        # and the row ERROR, while its last attempt is still starting: its timeout may be
        # logged after that.
        log = stack.state_dir / "poller.log"

        def timeouts_by_message() -> Counter[str]:
            lines = log.read_text().splitlines()
            return Counter(
                message
                for line in lines
                if line.endswith("Task timed out after 0.01 seconds")
                for message in line.split("(messages ", 1)[1].split(")", 1)[0].split()
            )

        eventually(
            lambda: attempts in timeouts_by_message().values(),
            30,
            what=f"a message's {attempts} timeouts logged",
        )
        assert max(timeouts_by_message().values()) == attempts  # never tried more often
