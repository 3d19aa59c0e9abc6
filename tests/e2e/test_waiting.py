"""Waiting (`Prefer: wait`) is bounded, so that it never takes the status function's capacity
from plain reads, `/health` or the page. On a stack with API keys (each key is a client): one
client holds at most WAITS_PER_CLIENT waits (then 429 with Retry-After); all together at most
WAITS_TOTAL (then the answer comes at once, without Preference-Applied). The probe's case: 50
waiters on a prediction whose photo never comes, then a plain read, /health and / while they
are held. Latencies are `make bench`'s (bench/waits.py); here, the mechanism."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import httpx
import pytest
from dogdetect.config import Settings

from local.launcher import RunningStack, warm_status_environments
from tests.conftest import (
    CLIENT_KEYS,
    eventually,
    sql,
    wait_terminal,
)
from tests.photos import photo

KEYS = CLIENT_KEYS
PER_CLIENT, TOTAL = Settings().waits_per_client, Settings().waits_total
WAITERS = 50
HELD = "SELECT count(*) FROM slot_claims WHERE pool = 'wait' AND expires_at > now()"


@pytest.fixture(scope="module")
def waits_stack(keyed_stack: RunningStack) -> RunningStack:
    return keyed_stack


@pytest.fixture(scope="module")
def client(waits_stack: RunningStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=waits_stack.api_url, timeout=60) as http:
        yield http


def key(n: int) -> dict[str, str]:
    return {"X-API-Key": KEYS[n]}


def never_finishing(client: httpx.Client) -> str:
    """A prediction that stays PENDING: a direct upload whose photo never comes."""
    created = client.post("/image_prediction/uploads", headers=key(0))
    assert created.status_code == 201, created.text
    return str(created.json()["image_prediction_id"])


def wait_on(client: httpx.Client, prediction_id: str, n: int) -> httpx.Response:
    headers = {**key(n), "Prefer": "wait=20"}
    return client.get(f"/image_prediction/{prediction_id}", headers=headers)


def held_claims(stack: RunningStack, count: int) -> None:
    eventually(lambda: sql(stack, HELD)[0][0] == count, 60, what=f"{count} waits held")


def test_a_client_past_its_share_of_waits_gets_429(
    waits_stack: RunningStack, client: httpx.Client
) -> None:
    pending = never_finishing(client)
    with ThreadPoolExecutor(PER_CLIENT) as pool:
        waiting = [pool.submit(wait_on, client, pending, 1) for _ in range(PER_CLIENT)]
        held_claims(waits_stack, PER_CLIENT)
        refused = wait_on(client, pending, 1)
        assert refused.status_code == 429, refused.text
        assert refused.headers["retry-after"] == "1"
        assert "Prefer: wait" in refused.json()["detail"]
        other = wait_on(client, pending, 2)  # another client still has its share
        assert other.status_code == 200 and other.headers["preference-applied"] == "wait=20"
        for held in waiting:
            assert held.result().headers["preference-applied"] == "wait=20"
    held_claims(waits_stack, 0)  # every claim released


def test_fifty_waiters_leave_plain_reads_their_capacity(
    waits_stack: RunningStack, client: httpx.Client
) -> None:
    pending = never_finishing(client)
    accepted = submit_keyed(client)
    assert wait_terminal_keyed(client, accepted)["status"] == "DONE"
    warm_status_environments(client)  # what is checked is how many there may be, not how fast
    with ThreadPoolExecutor(WAITERS) as pool:
        waiters: list[Future[httpx.Response]] = []
        for n in range(WAITERS):  # spread over 2.5 s: well within the gateway's burst
            waiters.append(pool.submit(wait_on, client, pending, n % len(KEYS)))
            time.sleep(0.05)
        held_claims(waits_stack, TOTAL)
        # Answered while every held wait is still held: reads have capacity of their own.
        plain = client.get(f"/image_prediction/{accepted}", headers=key(3))
        health = client.get("/health")
        page = client.get("/", headers=key(3))
        still_held = sql(waits_stack, HELD)[0][0]
        answers = [w.result() for w in waiters]
    assert (plain.status_code, health.status_code, page.status_code) == (200, 200, 200)
    assert plain.json()["status"] == "DONE"
    assert still_held == TOTAL
    assert [a.status_code for a in answers] == [200] * WAITERS
    applied = [a for a in answers if "preference-applied" in a.headers]
    assert len(applied) == TOTAL  # the rest were answered at once, the preference not applied
    assert all(a.json()["status"] == "PENDING" for a in answers)


def submit_keyed(client: httpx.Client) -> str:
    files = {"image": ("dog.jpg", photo("dog.jpg"))}
    response = client.post("/image_prediction", files=files, headers=key(0))
    assert response.status_code == 202, response.text
    return str(response.json()["image_prediction_id"])


def wait_terminal_keyed(client: httpx.Client, prediction_id: str) -> dict[str, object]:
    keyed = httpx.Client(base_url=str(client.base_url), headers=key(0), timeout=60)
    with keyed:
        return wait_terminal(keyed, prediction_id, timeout=120)
