"""Local execution environments behave as Lambda's: one process per environment, reused while
warm; an invocation past the function's timeout has its environment killed and the next one
starts cold; a handler's exception is an error reply from a container that stays warm."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.runtime import FunctionFailed, FunctionPool, FunctionTimeout
from local.template import FunctionSpec

HANDLER = """
import os, time

def handler(event, context):
    if event.get("raise"):
        raise ValueError(event["raise"])
    time.sleep(event.get("sleep", 0))
    return {"pid": os.getpid(), "remaining_ms": context.get_remaining_time_in_millis(),
            "init_type_at_import": INIT_TYPE}

INIT_TYPE = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")
"""


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[FunctionPool]:
    code = tmp_path / "app.py"
    code.write_text(HANDLER)
    spec = FunctionSpec("sleepy", "SleepyFunction", 0.5, None, code)
    created = FunctionPool(spec, dict(os.environ), size=1)
    yield created
    created.close()


def test_the_module_is_imported_in_an_init_phase_as_lambda_marks_it(pool: FunctionPool) -> None:
    # What `dogdetect.runtime.lifecycle.load_during_init` (predict's model) keys on.
    assert pool.invoke({})["init_type_at_import"] == "on-demand"


def test_a_warm_environment_is_reused(pool: FunctionPool) -> None:
    first, second = pool.invoke({}), pool.invoke({})
    assert first["pid"] == second["pid"]
    assert 0 < first["remaining_ms"] <= 500  # the context counts down from the timeout


def test_past_the_timeout_the_environment_is_killed_and_the_next_call_starts_cold(
    pool: FunctionPool,
) -> None:
    warm = pool.invoke({})["pid"]
    with pytest.raises(FunctionTimeout):
        pool.invoke({"sleep": 5})
    with pytest.raises(ProcessLookupError):
        os.kill(warm, 0)  # gone, as Lambda discards a timed-out environment
    after = pool.invoke({})
    assert after["pid"] != warm


def test_a_handler_error_fails_the_call_and_keeps_the_environment(pool: FunctionPool) -> None:
    warm = pool.invoke({})["pid"]
    with pytest.raises(FunctionFailed):
        pool.invoke({"raise": "asked to"})
    assert pool.invoke({})["pid"] == warm


def test_an_unhandled_error_is_logged_as_one_json_line(
    pool: FunctionPool, capfd: pytest.CaptureFixture[str]
) -> None:
    forged = '\r\n{"level":"INFO","message":"forged"}\n'
    with pytest.raises(FunctionFailed):
        pool.invoke({"raise": forged})
    (line,) = [line for line in capfd.readouterr().out.splitlines() if line.strip()]
    logged = json.loads(line)
    assert logged["errorType"] == "ValueError"
    assert logged["errorMessage"] == forged


def test_each_cold_start_logs_its_init_duration_as_lambda_reports_it(
    pool: FunctionPool, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="local.runtime"):
        first = pool.invoke({})["pid"]
        pool.invoke({})  # warm: no init
        with pytest.raises(FunctionTimeout):
            pool.invoke({"sleep": 5})
        second = pool.invoke({})["pid"]
    inits = [r.getMessage() for r in caplog.records if "Init Duration" in r.getMessage()]
    assert [m.split(" pid ")[1].split()[0] for m in inits] == [str(first), str(second)]
    assert all(re.search(r"^sleepy pid \d+ Init Duration: \d+\.\d\d ms$", m) for m in inits)


def test_ctrl_c_in_the_terminal_leaves_each_environment_to_its_runtime(
    pool: FunctionPool, capfd: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C reaches every process of `make local`'s group: an environment ignores it (the
    stack stops it), instead of dying with a KeyboardInterrupt traceback in the terminal."""
    warm = pool.invoke({})["pid"]
    os.kill(warm, signal.SIGINT)
    assert pool.invoke({})["pid"] == warm  # still there, still warm
    assert "KeyboardInterrupt" not in capfd.readouterr().err
