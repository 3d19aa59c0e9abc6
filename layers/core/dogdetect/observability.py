"""One way to observe every function: Powertools Logger (JSON, correlation id = prediction
id), Metrics (EMF) and Tracer (X-Ray), applied to each handler by `instrument`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

NAMESPACE = "DogDetect"
LambdaHandler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class Observability:
    logger: Logger
    metrics: Metrics
    tracer: Tracer

    def correlate(self, prediction_id: object) -> None:
        self.logger.set_correlation_id(str(prediction_id))


def observability(service: str) -> Observability:
    logger = Logger(service=service)
    # The core logs through the standard library; give those records the same JSON shape.
    copy_config_to_registered_loggers(source_logger=logger, include={"dogdetect"})
    return Observability(logger, Metrics(namespace=NAMESPACE, service=service), Tracer(service))


def instrument(handler: LambdaHandler, obs: Observability) -> LambdaHandler:
    def entry(event: dict[str, Any], context: Any) -> Any:
        return handler(event, context)

    entry.__name__ = f"{obs.logger.service}_handler"  # Powertools names segments after it
    traced = obs.tracer.capture_lambda_handler(entry)
    measured = obs.metrics.log_metrics(traced)
    logged: LambdaHandler = obs.logger.inject_lambda_context(measured, clear_state=True)
    return logged
