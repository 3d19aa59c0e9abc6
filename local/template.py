"""Read what the local stack must share with the cloud from infra/template.yaml: routes,
the SQS event source's batch settings and the queue's redrive settings. One source, so the
two cannot drift apart."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from local.config import REPO_ROOT, QueueConfig, Route

TEMPLATE = REPO_ROOT / "infra" / "template.yaml"


class _CloudFormationLoader(yaml.SafeLoader):  # type: ignore[misc]  # no stubs
    """Reads !Ref, !GetAtt, !Sub and friends as plain values: only literals are used here."""


def _tag(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


_CloudFormationLoader.add_multi_constructor("!", _tag)


@cache
def resources(path: Path = TEMPLATE) -> dict[str, Any]:
    loader = _CloudFormationLoader(path.read_text())
    try:
        document = loader.get_single_data()
    finally:
        loader.dispose()
    found: dict[str, Any] = document["Resources"]
    return found


def _functions() -> dict[str, dict[str, Any]]:
    """Serverless functions by local name: their folder under functions/."""
    named = {}
    for resource in resources().values():
        if resource["Type"] == "AWS::Serverless::Function":
            named[_code_folder(resource)] = resource
    return named


def _code_folder(function: dict[str, Any]) -> str:
    code_uri = function["Properties"].get("CodeUri")
    if code_uri:  # ../functions/submit/
        return Path(str(code_uri)).name
    return Path(str(function["Metadata"]["Dockerfile"])).parent.name  # functions/predict/Dockerfile


def routes() -> tuple[Route, ...]:
    found = []
    for name, function in _functions().items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi" and event["Properties"]["Path"] != "$default":
                found.append(
                    Route(event["Properties"]["Method"].upper(), event["Properties"]["Path"], name)
                )
    return tuple(sorted(found, key=lambda r: (r.path, r.method)))


def default_route_function() -> str:
    for name, function in _functions().items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi" and event["Properties"]["Path"] == "$default":
                return name
    raise LookupError("the template has no $default route")


def queue_config() -> QueueConfig:
    sqs_events = [
        e["Properties"]
        for e in _functions()["predict"]["Properties"]["Events"].values()
        if e["Type"] == "SQS"
    ]
    (source,) = sqs_events
    queue = next(
        r["Properties"]
        for r in resources().values()
        if r["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in r["Properties"]
    )
    return QueueConfig(
        batch_size=int(source["BatchSize"]),
        batching_window_seconds=int(source.get("MaximumBatchingWindowInSeconds", 0)),
        visibility_timeout_seconds=int(queue["VisibilityTimeout"]),
        max_receive_count=int(queue["RedrivePolicy"]["maxReceiveCount"]),
    )
