"""Read what the local stack must share with the cloud from infra/template.yaml: routes, the
functions' timeouts, memory sizes and roles, the SQS event sources' batch settings, the
queue's redrive settings and the HTTP API's throttling. One source, so the two cannot drift
apart.

This module depends on nothing else in `local`: `local.config` builds on it, not the reverse."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = REPO_ROOT / "infra" / "template.yaml"
LAMBDA_DEFAULT_MEMORY_MB = 128  # a function's MemorySize when neither it nor Globals says


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway route key syntax: /image_prediction/{image_prediction_id}
    function: str


@dataclass(frozen=True)
class QueueConfig:
    batch_size: int
    batching_window_seconds: int
    visibility_timeout_seconds: int
    max_receive_count: int
    dead_letter_visibility_timeout_seconds: int


@dataclass(frozen=True)
class RedriveConfig:
    """A queue with a dead-letter queue, as the template declares it."""

    visibility_timeout_seconds: int
    max_receive_count: int
    dead_letter_visibility_timeout_seconds: int


@dataclass(frozen=True)
class Throttle:
    rate_per_second: float
    burst: int


@dataclass(frozen=True)
class FunctionSpec:
    """A function as the template declares it, by its folder under functions/."""

    name: str
    logical_id: str
    timeout_seconds: float
    role: str | None  # logical id of its IAM role
    code: Path  # its handler's file: functions/<name>/app.py
    # Its MemorySize: the most resident memory an environment may hold, and what buys it CPU
    # (local/cpus.py).
    memory_mb: int = LAMBDA_DEFAULT_MEMORY_MB


class _CloudFormationLoader(yaml.SafeLoader):  # type: ignore[misc]  # no stubs
    """Reads short tags (!Ref, !GetAtt, !Sub, ...) as their long forms ({"Ref": ...})."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _tag)


@cache
def document(path: Path = TEMPLATE) -> dict[str, Any]:
    loader = _CloudFormationLoader(path.read_text())
    try:
        found: dict[str, Any] = loader.get_single_data()
    finally:
        loader.dispose()
    return found


def resources() -> dict[str, Any]:
    found: dict[str, Any] = document()["Resources"]
    return found


def parameter_defaults() -> dict[str, Any]:
    return {name: p.get("Default") for name, p in document()["Parameters"].items()}


def _globalfunction_property(name: str) -> Any:
    return document().get("Globals", {}).get("Function", {}).get(name)


def resolved(value: Any) -> Any:
    """A property's value at the parameters' defaults: `!Ref PredictMemorySize` -> 1769."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return parameter_defaults()[value["Ref"]]
    return value


def function_property(props: dict[str, Any], name: str, default: Any = None) -> Any:
    """A function's own property, else the Globals' (as SAM merges them), resolved."""
    value = props.get(name, _globalfunction_property(name))
    return default if value is None else resolved(value)


def _serverless_functions() -> dict[str, tuple[str, dict[str, Any]]]:
    """(logical id, resource) by local name: the function's folder under functions/."""
    named = {}
    for logical_id, resource in resources().items():
        if resource["Type"] == "AWS::Serverless::Function":
            named[_code_folder(resource)] = (logical_id, resource)
    return named


def _code_folder(function: dict[str, Any]) -> str:
    code_uri = function["Properties"].get("CodeUri")
    if code_uri:  # ../functions/submit/
        return Path(str(code_uri)).name
    return Path(str(function["Metadata"]["Dockerfile"])).parent.name  # functions/predict/Dockerfile


def functions(timeouts: Mapping[str, float] | None = None) -> dict[str, FunctionSpec]:
    """Every function as declared; `timeouts` replaces some (a test's knob, like the
    visibility timeout's)."""
    specs = {}
    for name, (logical_id, resource) in _serverless_functions().items():
        props = resource["Properties"]
        role = props.get("Role")
        specs[name] = FunctionSpec(
            name=name,
            logical_id=logical_id,
            timeout_seconds=float(function_property(props, "Timeout")),
            role=role["Fn::GetAtt"][0] if isinstance(role, dict) else None,
            code=REPO_ROOT / "functions" / name / "app.py",
            memory_mb=int(function_property(props, "MemorySize", LAMBDA_DEFAULT_MEMORY_MB)),
        )
    for name, seconds in (timeouts or {}).items():
        specs[name] = replace(specs[name], timeout_seconds=seconds)
    return specs


def _events(name: str) -> list[dict[str, Any]]:
    _, function = _serverless_functions()[name]
    return list(function["Properties"].get("Events", {}).values())


def routes() -> tuple[Route, ...]:
    found = []
    for name in _serverless_functions():
        for event in _events(name):
            if event["Type"] == "HttpApi" and event["Properties"]["Path"] != "$default":
                props = event["Properties"]
                found.append(Route(props["Method"].upper(), props["Path"], name))
    return tuple(sorted(found, key=lambda r: (r.path, r.method)))


def default_route_function() -> str:
    for name in _serverless_functions():
        for event in _events(name):
            if event["Type"] == "HttpApi" and event["Properties"]["Path"] == "$default":
                return name
    raise LookupError("the template has no $default route")


def sqs_consumers() -> dict[str, tuple[str, dict[str, Any]]]:
    """Function name -> (logical id of the queue it consumes, its SQS event's properties)."""
    found = {}
    for name in _serverless_functions():
        for event in _events(name):
            if event["Type"] == "SQS":
                found[name] = (event["Properties"]["Queue"]["Fn::GetAtt"][0], event["Properties"])
    return found


def runs_the_model(name: str) -> bool:
    """A function built as a container image: predict, whose batches are CPU-bound."""
    _, function = _serverless_functions()[name]
    return bool(function["Properties"].get("PackageType") == "Image")


def queue_config() -> QueueConfig:
    queue_id, source = sqs_consumers()["predict"]
    queue = resources()[queue_id]["Properties"]
    dead_letters = resources()[queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]]
    return QueueConfig(
        batch_size=int(source["BatchSize"]),
        batching_window_seconds=int(source.get("MaximumBatchingWindowInSeconds", 0)),
        visibility_timeout_seconds=int(queue["VisibilityTimeout"]),
        max_receive_count=int(queue["RedrivePolicy"]["maxReceiveCount"]),
        dead_letter_visibility_timeout_seconds=int(
            dead_letters["Properties"].get("VisibilityTimeout", 30)  # SQS's default
        ),
    )


def redrive_config(queue_id: str) -> RedriveConfig:
    """The queue `queue_id`'s visibility timeout and redrive policy (the notifications queue's:
    the jobs queue's are in `queue_config`)."""
    queue = resources()[queue_id]["Properties"]
    dead_letters = resources()[queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]]
    return RedriveConfig(
        visibility_timeout_seconds=int(queue.get("VisibilityTimeout", 30)),
        max_receive_count=int(queue["RedrivePolicy"]["maxReceiveCount"]),
        dead_letter_visibility_timeout_seconds=int(
            dead_letters["Properties"].get("VisibilityTimeout", 30)
        ),
    )


def throttle() -> Throttle:
    """The HTTP API's default route throttling, at the parameters' defaults."""
    settings = document()["Globals"]["HttpApi"]["DefaultRouteSettings"]
    defaults = parameter_defaults()

    def value(setting: Any) -> Any:
        return defaults[setting["Ref"]] if isinstance(setting, dict) else setting

    return Throttle(
        rate_per_second=float(value(settings["ThrottlingRateLimit"])),
        burst=int(value(settings["ThrottlingBurstLimit"])),
    )
