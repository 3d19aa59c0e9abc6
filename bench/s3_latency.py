"""What fetching a batch's images concurrently gains when S3 is a network hop away: predict's
`process_batch`, in process with the function's own wiring, on one batch at a time, with fetch
concurrency 1 and 4, against the local AWS endpoint directly and through a proxy adding a fixed
delay each way (bench/latency_proxy.py). The rows are made by real uploads while the stack's
poller is paused; each batch processes rows of its own."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any
from urllib.parse import urlsplit

from bench import latency_proxy, load
from bench.common import Steps, cycle, photos, run_worker
from bench.stack_control import function_env, predict_paused

# Each way: 20 ms is about a same-region S3 request's round trip (40 ms); 100 ms a slow one.
DELAYS_S = (0.0, 0.020, 0.100)
CONCURRENCIES = (1, 4)
STEPS = len(DELAYS_S)


def _plan(rounds: int) -> list[dict[str, Any]]:
    """A warm-up batch (not reported), then the concurrencies in turn, `rounds` times."""
    runs = [{"concurrency": max(CONCURRENCIES), "warm_up": True}]
    runs += [{"concurrency": c, "warm_up": False} for _ in range(rounds) for c in CONCURRENCIES]
    return runs


def _with_rows(stack: Any, runs: list[dict[str, Any]], batch: int) -> list[dict[str, Any]]:
    """Each run gets `batch` fresh PENDING rows (uploads; predict must be paused)."""
    ids = load.submit_only(stack.api_url, cycle(photos(), batch * len(runs)), 8).ids
    return [{**run, "ids": ids[i * batch : (i + 1) * batch]} for i, run in enumerate(runs)]


def _batches(stack: Any, endpoint: str, rounds: int, batch: int) -> dict[str, Any]:
    runs = _with_rows(stack, _plan(rounds), batch)
    found: dict[str, Any] = run_worker(
        "s3_batch", {"runs": runs}, function_env(stack, AWS_ENDPOINT_URL=endpoint)
    )
    for run, result in zip(runs, found.get("runs", []), strict=False):
        result["warm_up"] = run["warm_up"]
    return found


def measure(stack: Any, step: Steps, rounds: int, batch: int) -> dict[str, Any]:
    endpoint = stack.environment["AWS_ENDPOINT_URL"]
    port = urlsplit(endpoint).port
    assert port is not None
    storages = []
    with predict_paused(stack), ExitStack() as proxies:
        for delay in DELAYS_S:
            step(f"batch with S3 {delay * 1000:.0f} ms away each way")
            url = endpoint
            if delay:
                url = proxies.enter_context(latency_proxy.delayed(port, delay)).url
            found = _batches(stack, url, rounds, batch)
            storages.append({"delay_each_way_s": delay, **found})
            step.done()
    load.wait_idle(stack.api_url, photos()[0])  # their messages: no-ops once the rows are DONE
    return {"batch": batch, "storages": storages}
