"""Local execution environments are sized as Lambda sizes them from the template: pinned to the
cores their MemorySize buys (1,769 MB = 1 vCPU), concurrent ones of a function on distinct
cores; killed past their MemorySize and reported as Lambda reports it (Runtime.ExitError, the
REPORT line), the next invocation starting cold. No timing is asserted: the memory limit is
checked against the peak resident set (VmHWM), which a busy machine cannot make a read miss."""

from __future__ import annotations

import logging
import os
import re
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.cpus import CoreAllocator, usable_cores, vcpus
from local.runtime import FunctionFailed, FunctionPool, RuntimeExitError
from local.template import FunctionSpec

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity"), reason="pinning and /proc are Linux's"
)

HANDLER = """
import os, time
from pathlib import Path

held = []

def handler(event, context):
    if "allocate_mb" in event:
        held.append(b"\\x01" * (event["allocate_mb"] << 20))  # written: resident, not reserved
    if "exit" in event:
        os._exit(event["exit"])
    if "rendezvous" in event:  # stay until the other invocation is running too
        folder = Path(event["rendezvous"])
        (folder / str(os.getpid())).touch()
        deadline = time.monotonic() + 20
        while len(list(folder.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    return {"pid": os.getpid(), "cores": sorted(os.sched_getaffinity(0)),
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "request_id": context.aws_request_id}
"""
REQUEST_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def spec(tmp_path: Path, memory_mb: int) -> FunctionSpec:
    code = tmp_path / "app.py"
    code.write_text(HANDLER)
    return FunctionSpec("sized", "SizedFunction", 30.0, None, code, memory_mb=memory_mb)


@pytest.fixture
def pools() -> Iterator[list[FunctionPool]]:
    """Pools a test makes, closed after it."""
    made: list[FunctionPool] = []
    yield made
    for pool in made:
        pool.close()


def pool_of(
    pools: list[FunctionPool], tmp_path: Path, memory_mb: int, size: int = 1
) -> FunctionPool:
    pool = FunctionPool(spec(tmp_path, memory_mb), dict(os.environ), size=size)
    pools.append(pool)
    return pool


def test_memory_buys_whole_cores_as_lambda_sizes_vcpus() -> None:
    assert [vcpus(mb) for mb in (128, 512, 1769, 1770, 3538, 3539, 10240)] == [1, 1, 1, 2, 2, 3, 6]


def test_environments_take_the_least_used_cores_and_give_them_back() -> None:
    cores = CoreAllocator([0, 1], in_use=Counter())
    first, second = cores.take(1769), cores.take(1769)
    assert (first, second) == ({0}, {1})
    cores.release(first)
    assert cores.take(1769) == {0}
    assert cores.take(10240) == {0, 1}  # six vCPUs' worth, capped at the machine's two


def test_the_first_environments_of_two_functions_start_on_different_cores() -> None:
    in_use: Counter[int] = Counter()
    predict, status = CoreAllocator([0, 1], in_use), CoreAllocator([0, 1], in_use)
    assert (predict.take(1769), status.take(1024)) == ({0}, {1})
    assert predict.take(1769) == {1}  # its own environments stay apart first


def test_an_environment_is_pinned_to_the_cores_its_memory_buys(
    pools: list[FunctionPool], tmp_path: Path
) -> None:
    machine = len(usable_cores())
    one = pool_of(pools, tmp_path, 1769).invoke({})
    two = pool_of(pools, tmp_path, 3538).invoke({})
    assert len(one["cores"]) == 1
    assert len(two["cores"]) == min(2, machine)
    assert one["memory_limit_in_mb"] == 1769  # the context says it too, as Lambda's does


@pytest.mark.skipif(len(usable_cores()) < 2, reason="needs two cores")
def test_two_environments_of_a_function_running_at_once_get_different_cores(
    pools: list[FunctionPool], tmp_path: Path
) -> None:
    pool = pool_of(pools, tmp_path, 1769, size=2)
    rendezvous = tmp_path / "rendezvous"
    rendezvous.mkdir()
    answers: list[dict[str, Any]] = []
    calls = [
        threading.Thread(
            target=lambda: answers.append(pool.invoke({"rendezvous": str(rendezvous)}))
        )
        for _ in range(2)
    ]
    for call in calls:
        call.start()
    for call in calls:
        call.join()
    first, second = answers
    assert first["pid"] != second["pid"]  # two environments, both running at the rendezvous
    assert len(first["cores"]) == len(second["cores"]) == 1
    assert first["cores"] != second["cores"]


def test_past_its_memory_size_an_environment_is_killed_and_reported_as_lambda_reports_it(
    pools: list[FunctionPool], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pool = pool_of(pools, tmp_path, 128)
    warm = pool.invoke({"allocate_mb": 16})["pid"]  # within its 128 MB: kept warm
    assert pool.invoke({})["pid"] == warm
    with caplog.at_level(logging.INFO, logger="local.runtime"):
        with pytest.raises(RuntimeExitError) as failed:
            pool.invoke({"allocate_mb": 256})
        after = pool.invoke({})
    error = failed.value.error
    assert error["errorType"] == "Runtime.ExitError"
    found = re.fullmatch(
        rf"RequestId: ({REQUEST_ID}) Error: Runtime exited with error: signal: killed",
        error["errorMessage"],
    )
    assert found, error
    request_id = found.group(1)
    lines = [r.getMessage() for r in caplog.records]
    (report,) = [line for line in lines if "REPORT" in line]
    used = re.fullmatch(
        rf"sized REPORT RequestId: {request_id}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms"
        r"\tMemory Size: 128 MB\tMax Memory Used: (\d+) MB",
        report,
    )
    assert used and int(used.group(1)) > 128, report
    assert f"sized {error['errorMessage']}" in lines
    assert "sized Runtime.ExitError" in lines
    with pytest.raises(ProcessLookupError):
        os.kill(warm, 0)  # gone, as Lambda discards the environment
    assert after["pid"] != warm  # the next invocation starts cold...
    assert sum("Init Duration" in line for line in lines) == 1  # ...with an init of its own


def test_an_environment_that_exits_fails_its_invocation_with_its_exit_status(
    pools: list[FunctionPool], tmp_path: Path
) -> None:
    pool = pool_of(pools, tmp_path, 128)
    with pytest.raises(RuntimeExitError) as failed:
        pool.invoke({"exit": 3})
    assert failed.value.error["errorMessage"].endswith("Runtime exited with error: exit status 3")
    assert isinstance(failed.value, FunctionFailed)  # the callers' unhandled-error path
    pool.invoke({})  # a new environment
