"""One way to observe every function: Powertools Logger (JSON, correlation id = prediction
id), Metrics (EMF) and Tracer (X-Ray), applied to each handler by `instrument`, which also
registers the SnapStart hooks (`dogdetect.runtime.snapstart`) of the container it is given.

The Tracer is made only when tracing is on: making one imports the X-Ray SDK (~0.15 s of
cold start), which is wasted where Powertools would disable it anyway (locally, in tests)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.shared import constants
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

from dogdetect.runtime import snapstart

NAMESPACE = "DogDetect"
LambdaHandler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class Observability:
    logger: Logger
    metrics: Metrics
    tracer: Tracer | None  # None when tracing is off

    def correlate(self, prediction_id: object) -> None:
        self.logger.set_correlation_id(str(prediction_id))

    def count(self, metric: str, value: int = 1) -> None:
        self.metrics.add_metric(name=metric, unit="Count", value=value)

    def accepted(self, prediction_id: object, metric: str, response: Any) -> None:
        """A prediction made by an API call: correlated, counted, and its URL the answer's
        `Location` (`response`: the route's FastAPI Response)."""
        self.correlate(prediction_id)
        self.count(metric)
        response.headers["Location"] = f"/image_prediction/{prediction_id}"


def tracing_on(environ: Mapping[str, str]) -> bool:
    """Powertools' own rule (Tracer._is_tracer_disabled): off when POWERTOOLS_TRACE_DISABLED
    is true, outside Lambda (no LAMBDA_TASK_ROOT), and in SAM CLI's or Chalice's local mode."""
    if resolve_truthy_env_var_choice(env=environ.get(constants.TRACER_DISABLED_ENV, "false")):
        return False
    local = environ.get(constants.SAM_LOCAL_ENV) or environ.get(constants.CHALICE_LOCAL_ENV)
    return bool(environ.get(constants.LAMBDA_TASK_ROOT_ENV)) and not local


def observability(service: str, environ: Mapping[str, str] = os.environ) -> Observability:
    logger = Logger(service=service)
    # The core logs through the standard library; give those records the same JSON shape.
    copy_config_to_registered_loggers(source_logger=logger, include={"dogdetect"})
    tracer = Tracer(service) if tracing_on(environ) else None
    return Observability(logger, Metrics(namespace=NAMESPACE, service=service), tracer)


def publish_metrics(handler: LambdaHandler, metrics: Metrics) -> LambdaHandler:
    """Powertools' `log_metrics`, without its warning when an invocation added no metric (a
    read, a sweep of nothing): a `UserWarning` per environment that no one can act on, which
    filled `make local`'s terminal. What was added is published (one EMF line) when metrics
    are on, and dropped when they are off: Powertools keeps it then, and prints it anyway
    once 100 values have piled up."""

    @functools.wraps(handler)  # Powertools' logger and tracer name the handler after it
    def measured(event: dict[str, Any], context: Any) -> Any:
        try:
            return handler(event, context)
        finally:
            if metrics.metric_set:
                metrics.flush_metrics()
            metrics.clear_metrics()

    return measured


def instrument(
    handler: LambdaHandler,
    obs: Observability,
    container: Callable[[], snapstart.Container],
    hooks: snapstart.HookRegistry | None = None,
) -> LambdaHandler:
    """Logs, metrics and traces around `handler`; the SnapStart hooks of `container` (the
    function's adapters) registered with `hooks`, else Lambda's `snapshot_restore_py`."""
    snapstart.register_hooks(container, hooks)

    def entry(event: dict[str, Any], context: Any) -> Any:
        return handler(event, context)

    entry.__name__ = f"{obs.logger.service}_handler"  # Powertools names segments after it
    traced = obs.tracer.capture_lambda_handler(entry) if obs.tracer else entry
    measured = publish_metrics(traced, obs.metrics)
    logged: LambdaHandler = obs.logger.inject_lambda_context(measured, clear_state=True)
    return logged
