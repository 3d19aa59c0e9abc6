"""The database's share of an image, on a PostgreSQL of the bench's own: the service's own
statements (its PostgreSQL adapter's calls, made as each function makes them) counted by
pg_stat_statements, then replayed at rising rates until their p95 passes 50 ms: the ceiling."""

from __future__ import annotations

import multiprocessing
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import psutil
from dogdetect.adapters.postgres import PostgresPredictionRepository, make_engine
from dogdetect.config import Settings
from dogdetect.domain.models import Box, Detection, FinishedPrediction
from dogdetect.service.sweep import SweepDeps, SweepResult, sweep
from sqlalchemy import Engine, create_engine, text

from bench.common import held, pct
from local.database import migrate_for_functions
from local.launcher import free_port
from local.postgres import EmbeddedPostgres

RATES_IPS = (25, 50, 100, 200, 300, 400, 600, 800, 1200, 1600)  # images/s, one step each
STEP_S = 5.0
PROCESSES, THREADS = 2, 8  # 16 connections: the production profile's budget is 18 for predict
STATUS_READS = 1  # per image: one read (a waiting GET's answer, or a webhook user's check)
DETECTIONS = 4  # per image, about the drain photos' (dog.jpg 3, horses.jpg 5)
COUNTED_BATCHES = 20
DB_STEPS = 2
Call = Callable[[], object]


def _finished(prediction_id: uuid.UUID) -> FinishedPrediction:
    box = Box(10.0, 20.0, 110.0, 220.0)
    found = tuple(Detection("dog", 0.9 - i / 10, box) for i in range(DETECTIONS))
    return FinishedPrediction(prediction_id, True, found)


def image_batch(repo: PostgresPredictionRepository, batch: int) -> dict[str, list[Call]]:
    """One predict batch's worth of images, each function's calls in the order it makes them:
    submit (the row, then its message's mark), predict (claim, answers, webhooks due), the
    status reads."""
    ids = [uuid.uuid4() for _ in range(batch)]
    submit: list[Call] = []
    for i in ids:
        submit += [partial(repo.add_pending, i, f"uploads/{i}"), partial(repo.mark_enqueued, i)]
    return {
        "submit": submit,
        "predict": [
            partial(repo.start_processing_many, ids),
            partial(repo.finish_many, [_finished(i) for i in ids]),
            partial(repo.webhooks_due, ids),
        ],
        "status": [partial(repo.get, i) for i in ids for _ in range(STATUS_READS)],
    }


def sweep_run(repo: PostgresPredictionRepository) -> SweepResult:
    """The minute's sweep (the service's own), when nothing needs repair: its queries only
    (a repair would reach S3 or SQS, which this PostgreSQL-only replay has not)."""
    s = Settings()
    unused: Any = None
    deps = SweepDeps(repo, unused, unused, unused, s.enqueue_grace_seconds,
                     s.stuck_after_seconds, s.direct_upload_grace_seconds)  # fmt: skip
    return sweep(deps)


@contextmanager
def counted(master: Engine) -> Iterator[dict[str, float]]:
    """The statements, rows and server milliseconds the block caused, from pg_stat_statements."""
    found: dict[str, float] = {}
    with master.connect() as c:
        c.execute(text("SELECT counting.pg_stat_statements_reset()"))
    yield found
    query = text(
        "SELECT coalesce(sum(calls), 0), coalesce(sum(rows), 0), coalesce(sum(total_exec_time),"
        " 0) FROM counting.pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%'"
    )
    with master.connect() as c:
        calls, rows, ms = c.execute(query).one()
    found.update(statements=float(calls), rows=float(rows), ms=float(ms))


def work_per_image(master: Engine, repo: PostgresPredictionRepository, batch: int) -> Any:
    """Each function's statements, rows and milliseconds per image (the sweep's per run)."""
    batches = [image_batch(repo, batch) for _ in range(COUNTED_BATCHES)]
    images = COUNTED_BATCHES * batch
    out = {}
    for function in ("submit", "predict", "status"):
        with counted(master) as found:
            for calls in batches:
                for call in calls[function]:
                    call()
        out[function] = {k: v / images for k, v in found.items()}
    with counted(master) as found:
        sweep_run(repo)
    out["sweep_per_run"] = found
    out["image"] = {k: sum(out[f][k] for f in ("submit", "predict", "status")) for k in found}
    return out


def _replay_share(
    url: str, rate_ips: float, seconds: float, batch: int
) -> tuple[list[float], int, float]:
    """This process's share of a step: a batch of images every batch/rate seconds, each run
    by a thread of the pool. Each call's latency, the first's counted from when its batch was
    due (a backlog shows as latency, not as a slower rate); the images; the seconds from the
    first batch due to the last one's end, its own slot included."""
    repo = PostgresPredictionRepository(make_engine(url))
    latencies: list[float] = []
    images: list[int] = []

    def run(due: float) -> None:
        start = due
        for calls in image_batch(repo, batch).values():
            for call in calls:
                call()
                latencies.append(time.perf_counter() - start)
                start = time.perf_counter()
        images.append(batch)

    period, started = batch / rate_ips, time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        for n in range(int(seconds / period)):
            due = started + n * period
            time.sleep(max(0.0, due - time.perf_counter()))
            pool.submit(run, due)
    return latencies, sum(images), time.perf_counter() - started + period


def ceiling(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last step of the rising rates that held, if any."""
    kept = [s for s in steps if held(s)]
    return kept[-1] if kept else None


def _cpu_s(server: psutil.Process) -> float:
    """PostgreSQL's CPU seconds so far: the postmaster's, its live backends', and those of the
    backends that have exited (counted into the postmaster's once it reaped them)."""
    own = server.cpu_times()
    total = own.user + own.system + own.children_user + own.children_system
    for backend in server.children(recursive=True):
        try:
            total += backend.cpu_times().user + backend.cpu_times().system
        except psutil.NoSuchProcess:
            continue
    return float(total)


def replay(url: str, master: Engine, server: psutil.Process, batch: int) -> list[dict[str, Any]]:
    """Rising rates, until a step's p95 passes the limit or it falls 10% short of its rate."""
    steps = []
    fork = multiprocessing.get_context("fork")
    for rate in RATES_IPS:
        cpu = _cpu_s(server)
        with counted(master) as found, ProcessPoolExecutor(PROCESSES, mp_context=fork) as pool:
            share = (url, rate / PROCESSES, STEP_S, batch)
            futures = [pool.submit(_replay_share, *share) for _ in range(PROCESSES)]
            shares = [f.result() for f in futures]
        time.sleep(0.5)  # for the postmaster to reap the step's backends (their CPU counted)
        latencies = [s for calls, _, _ in shares for s in calls]
        images, elapsed = sum(n for _, n, _ in shares), max(span for _, _, span in shares)
        cpu_ms = (_cpu_s(server) - cpu) * 1000
        steps.append({
            "rate_ips": rate, "achieved_ips": images / elapsed, "elapsed_s": elapsed,
            "statements_per_s": found["statements"] / elapsed, "p95_ms": pct(latencies, 95) * 1000,
            "p50_ms": pct(latencies, 50) * 1000, "calls": len(latencies),
            "postgres_cpu_ms_per_image": cpu_ms / max(images, 1)})  # fmt: skip
        if not held(steps[-1]):
            break
    return steps


def counting(master_url: str) -> Engine:
    """The superuser's engine on a database whose statements `counted` reads (the extension
    in a schema of its own: the functions' role must reach nothing beyond its tables, which
    dogdetect.runtime.migrate checks, and the extension's views are readable by all)."""
    master = create_engine(master_url)
    with master.begin() as c:
        c.execute(text("CREATE SCHEMA IF NOT EXISTS counting"))
        c.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements SCHEMA counting"))
    return master


def measure(work: Path, batch: int, step: Callable[[str], None], done: Callable[[], None]) -> Any:
    postgres = EmbeddedPostgres(work / "replay-postgres", "127.0.0.1", free_port())
    master_url = postgres.start()
    try:
        master = counting(master_url)
        url = migrate_for_functions(master_url)
        step("database: the statements of one image, counted")
        per_image = work_per_image(master, PostgresPredictionRepository(make_engine(url)), batch)
        done()
        step("database: the statements replayed at rising rates")
        assert postgres.process is not None
        steps = replay(url, master, psutil.Process(postgres.process.pid), batch)
        done()
        return {"batch": batch, "status_reads_per_image": STATUS_READS, "per_image": per_image,
                "steps": steps, "processes": PROCESSES, "threads": THREADS,
                "ceiling": ceiling(steps)}  # fmt: skip
    finally:
        postgres.stop()
