"""The local SQS event source mapping: receive a batch, call `predict` with a real SQS event,
delete what succeeded, leave failures to the visibility timeout and the redrive policy.
Also the local scheduler: runs `sweep` every few seconds, as EventBridge does in the cloud."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

from dogdetect.adapters.aws import aws_client

from local.events import sqs_event
from local.functions import invoke, load_function

logger = logging.getLogger("local.poller")
PREDICT_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class PollerConfig:
    endpoint: str
    region: str
    queue_url: str
    queue_arn: str
    batch_size: int
    wait_seconds: int
    sweep_interval_seconds: float
    ready_file: str


class Poller:
    def __init__(self, config: PollerConfig) -> None:
        self.config = config
        self.sqs = aws_client("sqs", config.endpoint, config.region)
        self.predict: ModuleType = load_function("predict")
        self.sweep: ModuleType = load_function("sweep")
        self.running = True
        self._next_sweep = 0.0

    def run(self) -> None:
        while self.running:
            self._maybe_sweep()
            try:
                self.poll_once()
            except Exception:  # the endpoint may be restarting: keep polling, as Lambda does
                logger.exception("poll failed")
                time.sleep(1)

    def poll_once(self) -> int:
        messages = self.sqs.receive_message(
            QueueUrl=self.config.queue_url,
            MaxNumberOfMessages=self.config.batch_size,
            WaitTimeSeconds=self.config.wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if messages:
            self._deliver(messages)
        return len(messages)

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        event = sqs_event(messages, self.config.queue_arn, self.config.region)
        try:
            response = invoke(self.predict, "predict", event, PREDICT_TIMEOUT_SECONDS)
            failed = {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}
        except Exception:  # a failed invocation returns the whole batch to the queue
            logger.exception("predict invocation failed")
            return
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.config.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )

    def _maybe_sweep(self) -> None:
        if time.monotonic() < self._next_sweep:
            return
        self._next_sweep = time.monotonic() + self.config.sweep_interval_seconds
        try:
            invoke(
                self.sweep, "sweep", {"source": "aws.events", "detail-type": "Scheduled Event"}, 60
            )
        except Exception:
            logger.exception("sweep failed")

    def stop(self, _signum: int, _frame: FrameType | None) -> None:
        self.running = False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("config", help="PollerConfig as JSON")
    config = PollerConfig(**json.loads(parser.parse_args().config))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    poller = Poller(config)
    signal.signal(signal.SIGTERM, poller.stop)
    signal.signal(signal.SIGINT, poller.stop)
    # Load the model before taking messages, as a provisioned container would.
    poller.predict.predict_deps()
    Path(config.ready_file).write_text(str(os.getpid()))
    logger.info("poller ready")
    poller.run()


if __name__ == "__main__":
    main()
