"""The operations dashboard: its body is JSON once CloudFormation substitutes the names, every
name it substitutes is a resource of the stack (as written, and after SAM's translation), it
shows every queue and every function, and each of the service's own metrics it shows is one a
function publishes, under that function's `service` dimension."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from local.functions import load_function
from tests.infra.conftest import FUNCTION_TYPE, REPO_ROOT, of_type
from tests.infra.test_published_versions import (  # noqa: F401  (sam_python: a fixture)
    packaged,
    sam_python,
    translate,
)

DASHBOARD = "OperationsDashboard"
DEPLOY_DOC = REPO_ROOT / "docs" / "deploy.md"
PLACEHOLDER = re.compile(r"\$\{([^}!]+)\}")
NAMESPACE = "DogDetect"  # POWERTOOLS_METRICS_NAMESPACE
# What the issue asks the dashboard to show, among the service's own metrics: predictions per
# status (created; DONE; ERROR for each reason), and webhook deliveries.
REQUIRED_METRICS = {
    "ImagesAccepted",
    "DirectUploadsCreated",
    "PredictionsDone",
    "PredictionsFailed",
    "PredictionsAbandoned",
    "StuckPredictionsFailed",
    "UploadsNeverReceived",
    "WebhooksDelivered",
    "WebhookTriesFailed",
}


def body_template(resources: dict[str, Any]) -> str:
    dashboard = resources[DASHBOARD]
    assert dashboard["Type"] == "AWS::CloudWatch::Dashboard"
    body = dashboard["Properties"]["DashboardBody"]
    assert set(body) == {"Fn::Sub"} and isinstance(body["Fn::Sub"], str)
    text: str = body["Fn::Sub"]
    return text


def substituted(text: str) -> tuple[dict[str, Any], set[str]]:
    """The body as CloudFormation makes it (each name replaced by a stand-in), and the names."""
    names = set(PLACEHOLDER.findall(text))
    body = json.loads(PLACEHOLDER.sub(lambda m: f"resolved-{m.group(1)}", text))
    return body, names


def metrics(body: dict[str, Any]) -> list[list[Any]]:
    """Every metric line of every widget (expressions left out)."""
    return [
        line
        for widget in body["widgets"]
        for line in widget["properties"].get("metrics", [])
        if isinstance(line[0], str)
    ]


def dimension(line: list[Any], name: str) -> str | None:
    """The value of dimension `name` of a metric line [namespace, metric, name, value, ...]."""
    pairs = [item for item in line[2:] if isinstance(item, str)]
    found = dict(zip(pairs[::2], pairs[1::2], strict=True))
    return found.get(name)


@pytest.fixture(scope="module")
def dashboard(resources: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    return substituted(body_template(resources))


def test_every_name_the_body_substitutes_is_the_stacks(
    resources: dict[str, Any], dashboard: tuple[dict[str, Any], set[str]]
) -> None:
    _, names = dashboard
    for name in names:
        resource, _, attribute = name.partition(".")
        if resource.startswith("AWS::"):
            assert resource == "AWS::Region", name
            continue
        assert resource in resources, name
        kind = resources[resource]["Type"]
        if attribute:  # a queue's name
            assert (kind, attribute) == ("AWS::SQS::Queue", "QueueName"), name
        else:  # a function's name, the API's id
            assert kind in (FUNCTION_TYPE, "AWS::Serverless::HttpApi"), name


def test_every_queue_and_every_function_is_on_the_dashboard(
    resources: dict[str, Any], dashboard: tuple[dict[str, Any], set[str]]
) -> None:
    body, names = dashboard
    queues = set(of_type(resources, "AWS::SQS::Queue"))
    functions = set(of_type(resources, FUNCTION_TYPE))
    assert {f"{queue}.QueueName" for queue in queues} <= names
    assert functions <= names
    shown = {(line[0], line[1], dimension(line, "FunctionName")) for line in metrics(body)}
    for function in functions:  # how long each runs, and how it fails
        for metric in ("Duration", "Errors", "Throttles"):
            assert ("AWS/Lambda", metric, f"resolved-{function}") in shown, (function, metric)
    for queue in queues:
        assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in {
            (line[0], line[1]) for line in metrics(body) if f"resolved-{queue}." in str(line)
        }, queue


def test_each_service_metric_shown_is_published_by_its_function(
    dashboard: tuple[dict[str, Any], set[str]],
) -> None:
    body, _ = dashboard
    own = [line for line in metrics(body) if line[0] == NAMESPACE]
    assert {line[1] for line in own} >= REQUIRED_METRICS
    for line in own:
        service = dimension(line, "service")
        assert service is not None, line
        source = Path(load_function(service).__file__ or "").read_text()
        assert f'"{line[1]}"' in source, f"{service} publishes no {line[1]}"


def test_the_expressions_name_only_metrics_of_their_widget(
    dashboard: tuple[dict[str, Any], set[str]],
) -> None:
    body, _ = dashboard
    for widget in body["widgets"]:
        lines = widget["properties"]["metrics"]
        ids = {item.get("id") for line in lines for item in line if isinstance(item, dict)}
        for line in lines:
            if isinstance(line[0], dict) and "expression" in line[0]:
                used = set(re.findall(r"\b([a-z][a-z0-9_]*)\b", line[0]["expression"]))
                assert used and used <= ids, line[0]["expression"]


def test_the_age_line_is_the_alarms_threshold(
    resources: dict[str, Any], dashboard: tuple[dict[str, Any], set[str]]
) -> None:
    body, _ = dashboard
    lines = [
        line
        for widget in body["widgets"]
        for line in widget["properties"].get("annotations", {}).get("horizontal", [])
    ]
    alarm = resources["OldestJobAgeAlarm"]["Properties"]
    assert lines == [{"label": "OldestJobAgeAlarm", "value": alarm["Threshold"]}]


def test_sams_translation_keeps_every_name_of_the_body(
    sam_python: Path,  # noqa: F811  (the fixture)
    template: dict[str, Any],
) -> None:
    translated = translate(sam_python, packaged(template))
    resources = translated["Resources"]
    _, names = substituted(body_template(resources))
    for name in names:
        resource = name.partition(".")[0]
        if not resource.startswith("AWS::"):
            assert resources[resource]["Type"] in (
                "AWS::Lambda::Function",
                "AWS::SQS::Queue",
                "AWS::ApiGatewayV2::Api",
            ), name


def test_the_page_states_how_many_metrics_it_graphs(
    dashboard: tuple[dict[str, Any], set[str]],
) -> None:
    """docs/deploy.md's idle cost: an account's first 3 dashboards of up to 50 metrics are
    free (CloudWatch's always-free tier)."""
    body, _ = dashboard
    count = len(metrics(body))
    assert count <= 50
    assert f"of up to 50 metrics are free, and it has {count})" in DEPLOY_DOC.read_text()
