"""What the report says about the deployed functions, read from infra/template.yaml with the
local stack's own reader (`local/template.py`, which knows CloudFormation's short tags): memory,
timeouts, the predict queue's batching and the API's throttling. No copy of a template value
lives in the bench, so the report follows the template when it changes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from local import template


@dataclass(frozen=True)
class TemplateFacts:
    memory_mb: dict[str, int]  # by function folder name: submit, status, predict, ...
    timeout_s: dict[str, float]
    architecture: str  # x86_64 or arm64: the price per GB-second depends on it
    batch_size: int  # predict's SQS event source
    batching_window_s: int  # its MaximumBatchingWindowInSeconds
    predict_max_concurrency: int | None  # its ScalingConfig, when set
    throttle_rate_per_s: float  # the HTTP API's default route
    throttle_burst: int


def resolve(value: Any, parameters: Mapping[str, Any]) -> Any:
    """A property value with `!Ref Parameter` replaced by the parameter's default."""
    if isinstance(value, Mapping) and set(value) == {"Ref"} and value["Ref"] in parameters:
        return parameters[value["Ref"]]
    return value


def function_property(
    document: Mapping[str, Any], logical_id: str, name: str, default: Any = None
) -> Any:
    """A function's property as deployed at the parameters' defaults: its own, else the
    Globals' (as SAM merges them), else `default`."""
    parameters = {k: p.get("Default") for k, p in document.get("Parameters", {}).items()}
    own = document["Resources"][logical_id].get("Properties", {})
    globals_ = document.get("Globals", {}).get("Function", {})
    value = own.get(name, globals_.get(name, default))
    return resolve(value, parameters)


def architecture(document: Mapping[str, Any], logical_id: str) -> str:
    found = function_property(document, logical_id, "Architectures", ["x86_64"])
    return str(found[0])


def sqs_scaling(document: Mapping[str, Any], logical_id: str) -> int | None:
    """MaximumConcurrency of the function's SQS event source, or None when unset."""
    events = document["Resources"][logical_id]["Properties"].get("Events", {})
    for event in events.values():
        if event.get("Type") == "SQS":
            found = event["Properties"].get("ScalingConfig", {}).get("MaximumConcurrency")
            return int(found) if found is not None else None
    return None


def read() -> TemplateFacts:
    document = template.document()
    specs = template.functions()
    queue = template.queue_config()
    throttle = template.throttle()
    # Lambda's own default memory when neither the function nor Globals sets one.
    memory = {
        name: int(function_property(document, spec.logical_id, "MemorySize", 128))
        for name, spec in specs.items()
    }
    predict_id = specs["predict"].logical_id
    return TemplateFacts(
        memory_mb=memory,
        timeout_s={name: spec.timeout_seconds for name, spec in specs.items()},
        architecture=architecture(document, predict_id),
        batch_size=queue.batch_size,
        batching_window_s=queue.batching_window_seconds,
        predict_max_concurrency=sqs_scaling(document, predict_id),
        throttle_rate_per_s=throttle.rate_per_second,
        throttle_burst=throttle.burst,
    )
