"""Fixtures of the integration suite (the session stack itself is in tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from dogdetect.adapters.aws import aws_client
from dogdetect.config import Settings


@pytest.fixture
def own_queue(stack_settings: Settings) -> Iterator[tuple[Any, str]]:
    """A queue of the test's own on the stack's endpoint: the stack's poller consumes the
    real one."""
    sqs = aws_client("sqs", stack_settings.aws_endpoint_url, stack_settings.aws_region)
    url = sqs.create_queue(QueueName=f"test-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    yield sqs, url
    sqs.delete_queue(QueueUrl=url)
