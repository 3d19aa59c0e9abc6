"""The local SQS event source mappings and scheduler.

For each function the template triggers from a queue (predict from the jobs queue, deadletter
from the dead-letter queue, notify from the notifications queue): receive a batch the way
Lambda's poller does (waiting up to the batching window to fill it), invoke the function in
its own execution environment with a real SQS event, delete what succeeded, and leave
failures, errors and timeouts to the visibility timeout and the redrive policy. Each mapping
polls with its function's credentials, as the cloud's polls with the function's role. Also
runs `sweep` every few seconds, as EventBridge does in the cloud; SIGUSR1 runs it at once (the
schedule goes on from there), and each run is recorded in SWEEP_RUNS_FILE beside the ready
file, so that a test waits for a run of the sweep, never for the clock
(`local.launcher.RunningStack.sweep`)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import boto3
from dogdetect.adapters.aws import CLIENT_CONFIG

from local.events import sqs_event
from local.files import write_private
from local.logs import configure as configure_logs
from local.runtime import FunctionFailed, FunctionPool, FunctionTimeout, wait_all_ready
from local.template import functions

logger = logging.getLogger("local.poller")
LONG_POLL_SECONDS = 2  # short enough for a prompt shutdown
# The sweep's runs so far, by the poller process `pid`: {"pid", "started", "finished",
# "result" (the handler's answer), "error" (a failed or timed-out run)}. Runs never overlap:
# run `finished` is the last one that ended, `started` the one under way or just ended.
SWEEP_RUNS_FILE = "sweep-runs.json"
READY_FILE = "poller.ready"  # in the state folder: the pid of a poller taking messages


@dataclass(frozen=True)
class SourceConfig:
    function: str
    queue_url: str
    queue_arn: str
    batch_size: int
    batching_window_seconds: float
    # Batches in flight at once: the template's ScalingConfig.MaximumConcurrency; predict's at
    # most the environments the machine's cores hold, each on the cores its memory buys
    # (Lambda's pollers run concurrently; more here would only queue on CPU).
    concurrency: int = 1


@dataclass(frozen=True)
class PollerConfig:
    endpoint: str
    region: str
    sources: list[SourceConfig]
    sweep_interval_seconds: float
    ready_file: str
    environments_file: str  # function name -> its environment (credentials included), 0600
    timeouts: dict[str, float]  # tests' overrides of the template's


class EventSource:
    def __init__(self, config: SourceConfig, pool: FunctionPool, sqs: Any, region: str) -> None:
        self.config, self.pool, self.sqs, self.region = config, pool, sqs, region

    def poll_once(self) -> int:
        messages = self.receive_batch()
        if messages:
            self.deliver(messages)
        return len(messages)

    def _receive(self, most: int, wait: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.sqs.receive_message(
            QueueUrl=self.config.queue_url,
            MaxNumberOfMessages=most,
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        return found

    def receive_batch(self) -> list[dict[str, Any]]:
        """The first message, then more until the batch is full or the window has passed."""
        size = self.config.batch_size
        messages = self._receive(size, LONG_POLL_SECONDS)
        if not messages:
            return []
        deadline = time.monotonic() + self.config.batching_window_seconds
        while len(messages) < size and (left := deadline - time.monotonic()) > 0:
            more = self._receive(min(10, size - len(messages)), int(left))
            messages += more
            if not more and left < 1:
                time.sleep(min(0.05, left))
        return messages

    def deliver(self, messages: list[dict[str, Any]]) -> None:
        event = sqs_event(messages, self.config.queue_arn, self.region)
        try:
            response = self.pool.invoke(event)
        except (FunctionFailed, FunctionTimeout) as exc:
            # A failed or timed-out invocation returns the whole batch to the queue.
            ids = " ".join(m["MessageId"] for m in messages)
            logger.error("%s invocation failed (messages %s): %s", self.config.function, ids, exc)
            return
        failed = {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.config.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )

    def run(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                self.poll_once()
            except Exception:  # the endpoint may be restarting: keep polling, as Lambda does
                logger.exception("poll of %s failed", self.config.function)
                time.sleep(1)


def sqs_client(endpoint: str, region: str, environment: dict[str, str]) -> Any:
    session = boto3.session.Session(
        aws_access_key_id=environment["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=environment["AWS_SECRET_ACCESS_KEY"],
    )
    return session.client("sqs", endpoint_url=endpoint, region_name=region, config=CLIENT_CONFIG)


class Poller:
    def __init__(self, config: PollerConfig) -> None:
        self.config = config
        environments: dict[str, dict[str, str]] = json.loads(
            Path(config.environments_file).read_text()
        )
        specs = functions(config.timeouts)
        sizes = {s.function: s.concurrency for s in config.sources}
        self.pools = {
            name: FunctionPool(specs[name], environments[name], size=sizes.get(name, 1))
            for name in {s.function for s in config.sources} | {"sweep"}
        }
        self.sources = [
            EventSource(
                source,
                self.pools[source.function],
                sqs_client(config.endpoint, config.region, environments[source.function]),
                config.region,
            )
            for source in config.sources
        ]
        self.stopping = threading.Event()
        self.sweep_now = threading.Event()  # SIGUSR1, or stopping: end the wait between sweeps
        self.sweep_runs = Path(config.ready_file).with_name(SWEEP_RUNS_FILE)
        self.sweeps_started = 0

    def run(self) -> None:
        threads = [
            threading.Thread(target=source.run, args=(self.stopping,), daemon=True)
            for source in self.sources
            for _ in range(source.config.concurrency)
        ]
        for thread in threads:
            thread.start()
        while not self.stopping.is_set():
            self._sweep()
            self.sweep_now.wait(self.config.sweep_interval_seconds)
            self.sweep_now.clear()  # a trigger until here is served by the next run
        for thread in threads:
            thread.join(LONG_POLL_SECONDS + 1)
        for pool in self.pools.values():
            pool.close()

    def _sweep(self) -> None:
        self.sweeps_started += 1
        run = self.sweeps_started
        self._record_sweep(run, run - 1)
        try:
            result = self.pools["sweep"].invoke(
                {"source": "aws.events", "detail-type": "Scheduled Event"}
            )
        except Exception as exc:
            logger.exception("sweep failed")
            self._record_sweep(run, run, error=f"{type(exc).__name__}: {exc}")
        else:
            self._record_sweep(run, run, result=result)

    def _record_sweep(
        self, started: int, finished: int, result: Any = None, error: str | None = None
    ) -> None:
        record = {"pid": os.getpid(), "started": started, "finished": finished}
        write_private(self.sweep_runs, json.dumps({**record, "result": result, "error": error}))

    def stop(self, _signum: int, _frame: FrameType | None) -> None:
        # A signal handler runs in the main thread between two bytecodes, maybe while that
        # thread holds the event's lock inside `sweep_now.wait()`: setting it here could
        # deadlock (it did once). Another thread sets it as soon as the lock is free.
        threading.Thread(target=self._stopping, daemon=True).start()

    def _stopping(self) -> None:
        self.stopping.set()
        self.sweep_now.set()

    def sweep_soon(self, _signum: int, _frame: FrameType | None) -> None:
        """SIGUSR1: the next sweep starts now (or as soon as the one under way ends)."""
        threading.Thread(target=self.sweep_now.set, daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("config", help="PollerConfig as JSON")
    raw = json.loads(parser.parse_args().config)
    raw["sources"] = [SourceConfig(**s) for s in raw["sources"]]
    config = PollerConfig(**raw)
    configure_logs()
    poller = Poller(config)
    signal.signal(signal.SIGTERM, poller.stop)
    signal.signal(signal.SIGINT, poller.stop)
    signal.signal(signal.SIGUSR1, poller.sweep_soon)
    wait_all_ready(list(poller.pools.values()))
    Path(config.ready_file).write_text(str(os.getpid()))
    logger.info("poller ready")
    poller.run()


if __name__ == "__main__":
    main()
