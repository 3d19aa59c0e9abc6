"""The Tracer exists only where Powertools would trace: making one imports the X-Ray SDK, a
cold-start cost wasted where tracing is off (locally, in tests)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from aws_lambda_powertools import Tracer
from dogdetect.runtime.composition import adapters
from dogdetect.runtime.observability import Observability, instrument, observability, tracing_on

from tests.unit.conftest import FakeLambdaContext
from tests.unit.runtime.test_snapstart import FakeRegistry

IN_LAMBDA = {"LAMBDA_TASK_ROOT": "/var/task"}


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        (IN_LAMBDA, True),
        ({**IN_LAMBDA, "POWERTOOLS_TRACE_DISABLED": "false"}, True),
        ({**IN_LAMBDA, "POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({**IN_LAMBDA, "POWERTOOLS_TRACE_DISABLED": "1"}, False),
        ({**IN_LAMBDA, "AWS_SAM_LOCAL": "true"}, False),
        ({**IN_LAMBDA, "AWS_CHALICE_CLI_MODE": "true"}, False),
        ({}, False),  # outside Lambda: no X-Ray daemon to send to
    ],
)
def test_tracing_follows_powertools_rule(environ: dict[str, str], on: bool) -> None:
    assert tracing_on(environ) is on
    assert (observability("test", environ).tracer is not None) is on


class FakeTracer:
    def __init__(self) -> None:
        self.captured: list[str] = []

    def capture_lambda_handler(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        self.captured.append(handler.__name__)
        return handler


def test_a_handler_is_traced_when_there_is_a_tracer() -> None:
    made = observability("test", IN_LAMBDA)
    assert isinstance(made.tracer, Tracer)
    tracer = FakeTracer()
    traced = Observability(made.logger, made.metrics, tracer)  # type: ignore[arg-type]
    handler = instrument(lambda event, context: "answer", traced, adapters, FakeRegistry())
    assert tracer.captured == ["test_handler"]
    assert handler({}, FakeLambdaContext()) == "answer"


def test_a_handler_that_adds_no_metric_warns_and_prints_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Powertools' `log_metrics` warned "No application metrics to publish" for each such
    environment (31 times in `make local`'s terminal): nothing a user could act on."""
    obs = observability("quiet", {})
    handler = instrument(lambda event, context: "read", obs, adapters, FakeRegistry())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert handler({}, FakeLambdaContext()) == "read"
        assert handler({}, FakeLambdaContext()) == "read"
    assert [str(w.message) for w in caught] == []
    assert capsys.readouterr().out == ""


def test_the_metrics_a_handler_adds_are_published_once(capsys: pytest.CaptureFixture[str]) -> None:
    obs = observability("counting", {})
    added = iter([2, 0])

    def count(event: dict[str, Any], context: Any) -> str:
        if value := next(added):
            obs.count("ThingsCounted", value)
        return "counted"

    handler = instrument(count, obs, adapters, FakeRegistry())
    handler({}, FakeLambdaContext())
    handler({}, FakeLambdaContext())  # adds nothing: prints nothing, nothing left over
    (line,) = capsys.readouterr().out.splitlines()
    emf = json.loads(line)
    assert emf["ThingsCounted"] == [2.0]
    assert emf["service"] == "counting"
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "DogDetect"
