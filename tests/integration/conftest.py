"""Fixtures of the integration suite (the session stack itself is in tests/conftest.py)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from dogdetect.adapters.aws import aws_client
from dogdetect.config import Settings
from dogdetect.service.sweep import SWEEP_LOCK

from local.template import functions

# The longest one run of the stack's sweep holds the sweep's lock: its Timeout (the
# template's), at which the local runtime ends the run, and PostgreSQL its session's locks.
SWEEP_RUN_SECONDS = functions()["sweep"].timeout_seconds


@pytest.fixture
def own_queue(stack_settings: Settings) -> Iterator[tuple[Any, str]]:
    """A queue of the test's own on the stack's endpoint: the stack's poller consumes the
    real one."""
    sqs = aws_client("sqs", stack_settings.aws_endpoint_url, stack_settings.aws_region)
    url = sqs.create_queue(QueueName=f"test-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    yield sqs, url
    sqs.delete_queue(QueueUrl=url)


@contextmanager
def holding_the_sweep(repository: Any) -> Iterator[None]:
    """Hold the sweep's lock, so that the stack's own sweeper (every 15 s) stays out of the
    test's rows meanwhile. Taken as soon as the run under way, if any, lets go of it: a wait
    for that run, bounded by how long a run may last, not by a guess that a busy machine
    could outlast."""
    held_until = time.monotonic() + SWEEP_RUN_SECONDS + 30
    while True:
        with repository.exclusive(SWEEP_LOCK) as acquired:
            if acquired:
                yield
                return
        assert time.monotonic() < held_until, "the sweep's lock outlived any run of the sweep"
        time.sleep(0.05)
