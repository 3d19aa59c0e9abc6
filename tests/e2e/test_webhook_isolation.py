"""Slow webhook receivers hold up no other receiver. The probe's case: 25 predictions whose
webhook sends its status line one byte at a time, then one honest webhook, which arrived 235 s
after DONE. Each try lasts at most 10 s whatever the server does; a batch's tries run at once;
and notify runs batches enough at once (the template's 20, here too: its work waits on the
network, not the CPU) that the 25 are all in flight together, where the event source used to
hold 10 (2 batches of 5). Latencies are `make bench`'s; here, the mechanism, on a stack of its
own (the slow deliveries are retried, then dead-lettered)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from bench.slow_receiver import SlowReceiver, slow_receiver
from local.config import Emulator
from local.launcher import RunningStack, running_stack
from tests.conftest import TEST_VISIBILITY_TIMEOUT, eventually, wait_terminal
from tests.e2e.conftest import Receiver
from tests.photos import photo

SLOW = 25  # the event source used to hold 10 tries at once: 2 batches (the cores) of 5


@pytest.fixture(scope="module")
def slow() -> Iterator[SlowReceiver]:
    with slow_receiver() as state:
        yield state


@pytest.fixture(scope="module")
def isolated_stack(
    tmp_path_factory: pytest.TempPathFactory, emulator: Emulator
) -> Iterator[RunningStack]:
    with running_stack(
        tmp_path_factory.mktemp("webhooks-stack"),
        visibility_timeout=TEST_VISIBILITY_TIMEOUT,
        emulator=emulator,
    ) as running:
        yield running


def submit_with_webhook(client: httpx.Client, hook: str) -> str:
    for attempt in range(10):
        response = client.post(
            "/image_prediction",
            files={"image": ("dog.jpg", photo("dog.jpg"))},
            data={"webhook": hook},
        )
        if response.status_code != 429:
            break
        time.sleep(0.1 * 2**attempt)
    assert response.status_code == 202, response.text
    return str(response.json()["image_prediction_id"])


def test_slow_receivers_are_tried_all_at_once_and_hold_up_no_other(
    isolated_stack: RunningStack,
    slow: SlowReceiver,
    receiver: Receiver,
) -> None:
    receiver.answers = [200]
    with httpx.Client(base_url=isolated_stack.api_url, timeout=60) as client:
        with ThreadPoolExecutor(5) as pool:
            slowed = list(pool.map(lambda _: submit_with_webhook(client, slow.url), range(SLOW)))
        for prediction_id in slowed:
            assert wait_terminal(client, prediction_id, timeout=180)["status"] == "DONE"
        # Every slow delivery is tried at the same time: more than the event source used to
        # let through (each try ends by the service's deadline and comes back 3 s later here,
        # so the check has every retry to see them together).
        eventually(lambda: slow.most_open >= SLOW, 120, what=f"{SLOW} slow tries at once")
        honest = submit_with_webhook(client, f"http://127.0.0.1:{receiver.port}/honest")
        assert wait_terminal(client, honest, timeout=180)["status"] == "DONE"
        eventually(lambda: receiver.deliveries, 120, what="the honest webhook delivered")
    assert receiver.deliveries[0].path == "/honest"
