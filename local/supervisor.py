"""Keeps the predict poller running, as Lambda keeps consuming an event source: a poller that
dies (a crash, a SIGKILL in a fault test) is started again."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from dataclasses import asdict

from local.aws import Resources
from local.config import LocalConfig
from local.cpus import usable_cores, vcpus
from local.files import write_private
from local.poller import READY_FILE, PollerConfig, SourceConfig
from local.processes import spawn, stop
from local.template import functions, resolved, runs_the_model, sqs_consumers

logger = logging.getLogger("local.supervisor")


def machine_cores() -> int:
    """The cores this process may use (what `local.cpus` pins environments to)."""
    return len(usable_cores()) or os.cpu_count() or 1


def event_sources(resources: Resources) -> list[SourceConfig]:
    """The template's SQS event sources, on the local queues."""
    queues = resources.queues
    cores = machine_cores()
    specs = functions()
    sources = []
    for function, (queue_id, properties) in sorted(sqs_consumers().items()):
        url, arn = queues[queue_id]
        batch_size = int(properties.get("BatchSize", 10))
        window = float(properties.get("MaximumBatchingWindowInSeconds", 0))
        scaling = int(
            resolved(properties.get("ScalingConfig", {}).get("MaximumConcurrency", cores))
        )
        # The model's batches are held to the environments the cores hold, each on the cores
        # its memory buys (more would only queue on CPU); the other functions wait on the
        # network or the database (notify on clients' servers), and run as many batches at
        # once as the template lets Lambda.
        if runs_the_model(function):
            scaling = min(scaling, cores // vcpus(specs[function].memory_mb))
        concurrency = max(1, scaling)
        sources.append(SourceConfig(function, url, arn, batch_size, window, concurrency))
    return sources


class PollerSupervisor:
    def __init__(
        self,
        config: LocalConfig,
        endpoint: str,
        resources: Resources,
        environments: dict[str, dict[str, str]],
    ) -> None:
        self.log = config.state_dir / "poller.log"
        self.ready_file = config.state_dir / READY_FILE
        self.ready_file.unlink(missing_ok=True)
        environments_file = config.state_dir / "poller-functions.json"
        write_private(environments_file, json.dumps(environments))
        poller_config = PollerConfig(
            endpoint=endpoint,
            region=config.region,
            sources=event_sources(resources),
            sweep_interval_seconds=config.sweep_interval_seconds,
            ready_file=str(self.ready_file),
            environments_file=str(environments_file),
            timeouts=config.function_timeouts,
        )
        self._argv = [sys.executable, "-m", "local.poller", json.dumps(asdict(poller_config))]
        self._stopping = threading.Event()
        self.restarts = 0
        self.process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        return spawn(self._argv, self.log, env=dict(os.environ))

    def ready(self) -> bool:
        """The current poller process has loaded the model and is taking messages."""
        if self.process.poll() is not None and self.restarts == 0:
            raise RuntimeError(f"the predict poller exited; see {self.log}")
        return self.ready_file.exists() and self.ready_file.read_text() == str(self.process.pid)

    def keep_running(self) -> None:
        while not self._stopping.wait(0.5):
            code = self.process.poll()
            if code is not None and not self._stopping.is_set():
                logger.warning("predict poller exited with %s; starting a new one", code)
                self.restarts += 1
                self.process = self._start()

    def stop(self) -> None:
        self._stopping.set()
        stop(self.process)
