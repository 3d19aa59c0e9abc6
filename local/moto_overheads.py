"""Two costs moto's server pays on every request that grow with nothing the request asked
for, removed before it answers anything (`install`). What moto answers is unchanged.

- ReceiveMessage checks each message it is about to hand out against the queue's
  MessageRetentionPeriod by building every attribute of the queue (`get_queue_attributes`),
  three of which count the queue's messages, calling the clock for each: a receive of 10
  from a queue of n messages made about 30n clock calls. With 400 photos queued, moto spent
  half its CPU there, on the cores the model runs on (docs/benchmarks.md). `retained` reads
  the one attribute it needs, and keeps moto's rule (a message sent longer ago than the
  retention period is not handed out).
- Each request's routing asks whether its host names a moto module by listing moto's
  package folder, a directory read and about 150 stats; the folder does not change while the
  server runs, so it is listed once."""

from __future__ import annotations

import functools
from typing import Any


def retained(backend: Any, queue_name: str, message: Any) -> bool:
    """moto's `is_message_valid_based_on_retention_period`, without counting the queue."""
    from moto.core.utils import unix_time

    period = int(backend.get_queue(queue_name).message_retention_period)
    return bool(period + message.sent_timestamp / 1000 > unix_time())


def install() -> None:
    """Put both in moto, before its server answers anything."""
    from moto import backends
    from moto.sqs.models import SQSBackend

    SQSBackend.is_message_valid_based_on_retention_period = retained  # type: ignore[method-assign,assignment]
    listed = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = functools.cache(lambda: listed)
