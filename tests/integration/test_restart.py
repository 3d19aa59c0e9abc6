"""The promise of `make local`: kill the whole stack hard with work in flight, start it again,
and every accepted prediction still exists and ends DONE with the right answer."""

from __future__ import annotations

import itertools
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from local.launcher import running_stack
from tests.conftest import submit_backing_off, wait_terminal
from tests.photos import LABELLED_PHOTOS, photo

IN_FLIGHT = 100


def test_hard_kill_with_100_in_flight_then_restart(tmp_path: Path) -> None:
    state = tmp_path / "stack"
    photos = list(itertools.islice(itertools.cycle(sorted(LABELLED_PHOTOS)), IN_FLIGHT))
    with running_stack(state) as stack:
        stack.child("local.poller").suspend()  # nothing gets processed: all 100 in flight
        with (
            httpx.Client(base_url=stack.api_url, timeout=30) as client,
            ThreadPoolExecutor(16) as pool,
        ):
            responses = [
                r for r, _ in pool.map(lambda n: submit_backing_off(client, photo(n), n), photos)
            ]
        assert [r.status_code for r in responses] == [202] * IN_FLIGHT
        os.killpg(stack.process.pid, signal.SIGKILL)  # the whole `make local` process group
        stack.process.wait(10)

    expected = {
        r.json()["image_prediction_id"]: LABELLED_PHOTOS[n]
        for r, n in zip(responses, photos, strict=True)
    }
    with running_stack(state) as again, httpx.Client(base_url=again.api_url, timeout=30) as client:
        results = {pid: wait_terminal(client, pid, timeout=120) for pid in expected}

    assert {pid: (r["status"], r["has_dog"]) for pid, r in results.items()} == {
        pid: ("DONE", has_dog) for pid, has_dog in expected.items()
    }
