"""Load through the local gateway: 200 uploads from 24 concurrent clients. Zero 5xx, zero
lost, every prediction terminal with the right answer. The measured figures are written to
.local/reports/load.json for docs/reliability.md (speed targets live in `make bench`)."""

from __future__ import annotations

import itertools
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from local.config import REPO_ROOT
from local.launcher import RunningStack
from tests.conftest import submit_backing_off, wait_terminal
from tests.photos import LABELLED_PHOTOS, photo

UPLOADS, CLIENTS = 200, 24


def _timed_submit(api: httpx.Client, name: str) -> tuple[httpx.Response, float, int]:
    """The answer, the seconds it took, and how often the gateway's throttling (429, as API
    Gateway's) made the client back off first, as a well-behaved client does."""
    started = time.perf_counter()
    response, throttled = submit_backing_off(api, photo(name), name)
    return response, time.perf_counter() - started, throttled


def _seconds(result: dict[str, Any]) -> float:
    created = datetime.fromisoformat(result["created_at"])
    return (datetime.fromisoformat(result["updated_at"]) - created).total_seconds()


def test_200_uploads_from_24_clients(stack: RunningStack) -> None:
    names = list(itertools.islice(itertools.cycle(sorted(LABELLED_PHOTOS)), UPLOADS))
    started = time.perf_counter()
    with httpx.Client(
        base_url=stack.api_url, timeout=60, limits=httpx.Limits(max_connections=CLIENTS)
    ) as api:
        with ThreadPoolExecutor(CLIENTS) as pool:
            submitted = list(pool.map(lambda n: _timed_submit(api, n), names))
        accepted_after = time.perf_counter() - started
        assert [r.status_code for r, _, _ in submitted] == [202] * UPLOADS
        ids = [r.json()["image_prediction_id"] for r, _, _ in submitted]
        results = [wait_terminal(api, i, timeout=300) for i in ids]
    done_after = time.perf_counter() - started

    answers = [(r["status"], r["has_dog"]) for r in results]
    assert answers == [("DONE", LABELLED_PHOTOS[n]) for n in names]
    assert len(set(ids)) == UPLOADS

    submit_seconds = sorted(s for _, s, _ in submitted)
    queued_to_done = sorted(_seconds(r) for r in results)
    report = {
        "uploads": UPLOADS,
        "clients": CLIENTS,
        "all_accepted_seconds": round(accepted_after, 2),
        "all_done_seconds": round(done_after, 2),
        "throughput_images_per_second": round(UPLOADS / done_after, 2),
        "submit_p50_ms": round(statistics.median(submit_seconds) * 1000, 1),
        "submit_p95_ms": round(submit_seconds[int(0.95 * UPLOADS) - 1] * 1000, 1),
        "created_to_done_p50_s": round(statistics.median(queued_to_done), 2),
        "created_to_done_max_s": round(queued_to_done[-1], 2),
        "throttled_429": sum(t for _, _, t in submitted),
        "five_xx": 0,
        "lost": 0,
    }
    out = REPO_ROOT / ".local" / "reports"
    out.mkdir(parents=True, exist_ok=True)
    Path(out / "load.json").write_text(json.dumps(report, indent=2))
