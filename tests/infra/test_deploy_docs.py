"""docs/deploy.md states what the template does: the figures of its tables (functions, queues
and triggers, alarms) and of its prose are read from the template and found in the page."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.infra.conftest import (
    REPO_ROOT,
    at_default,
    environment,
    function_property,
    of_type,
    ref_target,
)

DOC = REPO_ROOT / "docs" / "deploy.md"
ALARM_TYPE = "AWS::CloudWatch::Alarm"
UNITS = {"s": 1, "day": 86_400, "days": 86_400}


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text()


def table(doc: str, first_header: str) -> list[dict[str, str]]:
    """The rows of the markdown tables whose header starts with `first_header`."""
    lines = doc.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |")]
    assert starts, first_header
    rows = []
    for start in starts:
        headers = [cell.strip() for cell in lines[start].strip("|").split("|")]
        for line in lines[start + 2 :]:
            if not line.startswith("|"):
                break
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            rows.append(dict(zip(headers, cells, strict=True)))
    return rows


def number(text: str) -> int:
    """The first number of a cell ("1,024 MB" -> 1024), in seconds when it has a unit."""
    match = re.search(r"(\d[\d,]*)\s*(s|days?)?\b", text)
    assert match, text
    value = int(match.group(1).replace(",", ""))
    return value * UNITS.get(match.group(2) or "", 1)


def literal(template: dict[str, Any], value: Any) -> Any:
    """A literal, or the default of the parameter it names."""
    name = ref_target(value)
    return template["Parameters"][name]["Default"] if name else value


def sqs_event(resources: dict[str, Any], function: str) -> dict[str, Any]:
    (event,) = [
        e["Properties"]
        for e in resources[function]["Properties"]["Events"].values()
        if e["Type"] == "SQS"
    ]
    return event


# ------------------------------------------------------------------ functions


def test_the_functions_table_lists_every_function_with_its_memory_and_timeout(
    doc: str, template: dict[str, Any], functions: dict[str, Any]
) -> None:
    rows = {
        re.search(r"\(`(\w+)`\)", row["function"]).group(1): row for row in table(doc, "function")
    }  # type: ignore[union-attr]
    assert set(rows) == set(functions)
    for name, function in functions.items():
        row = rows[name]
        memory = literal(template, function_property(template, function, "MemorySize"))
        assert number(row["memory"]) == int(memory), name
        assert number(row["timeout"]) == function_property(template, function, "Timeout"), name
        package = "image" if function["Properties"].get("PackageType") == "Image" else "zip"
        assert row["code"] == package, name
        # the short name is the function's POWERTOOLS_SERVICE_NAME
        service = environment(template, function)["POWERTOOLS_SERVICE_NAME"]
        assert row["function"].startswith(f"`{service}` "), name


def test_the_summary_counts_and_names_the_functions(
    doc: str, template: dict[str, Any], functions: dict[str, Any]
) -> None:
    (row,) = [r for r in table(doc, "Part") if r["Part"] == "Functions"]
    assert number(row["Resources"]) == len(functions)
    for function in functions.values():
        assert f"`{environment(template, function)['POWERTOOLS_SERVICE_NAME']}`" in row["Resources"]


def test_the_runtime_is_the_one_named(doc: str, functions: dict[str, Any]) -> None:
    runtimes = {
        f["Properties"]["Runtime"] for f in functions.values() if "Runtime" in f["Properties"]
    }
    (runtime,) = runtimes
    version = runtime.removeprefix("python")
    assert f"Python {version}" in doc and f"python{version}" in doc


def test_the_sam_cli_version_is_the_pinned_one(doc: str) -> None:
    pins = (REPO_ROOT / "infra" / "requirements-sam.txt").read_text()
    (version,) = re.findall(r"^aws-sam-cli==(\S+)", pins, re.MULTILINE)
    assert set(re.findall(r"aws-sam-cli==(\d[\w.]*)", doc)) == {version}
    assert "`boto3==" in doc  # why it has a venv of its own


# ------------------------------------------------------------------ queues and triggers


def queue_figures(template: dict[str, Any], resources: dict[str, Any]) -> dict[str, int]:
    jobs = resources["JobsQueue"]["Properties"]
    dlq = resources["JobsDeadLetterQueue"]["Properties"]
    predict = sqs_event(resources, "PredictFunction")
    deadletter = sqs_event(resources, "DeadLetterFunction")
    sweep = environment(template, resources["SweepFunction"])
    notifications = resources["NotificationsQueue"]["Properties"]
    notify = sqs_event(resources, "NotifyFunction")
    return {
        "`JobsQueue` visibility timeout": jobs["VisibilityTimeout"],
        "`JobsQueue` max receive count": jobs["RedrivePolicy"]["maxReceiveCount"],
        "`JobsQueue` retention": jobs["MessageRetentionPeriod"],
        "`JobsDeadLetterQueue` visibility timeout": dlq["VisibilityTimeout"],
        "`JobsDeadLetterQueue` retention": dlq["MessageRetentionPeriod"],
        "predict batch size": predict["BatchSize"],
        "predict batching window": predict["MaximumBatchingWindowInSeconds"],
        "predict maximum concurrency": at_default(
            template, predict["ScalingConfig"]["MaximumConcurrency"]
        ),
        "deadletter batch size": deadletter["BatchSize"],
        "deadletter maximum concurrency": deadletter["ScalingConfig"]["MaximumConcurrency"],
        "sweep `ENQUEUE_GRACE_SECONDS`": int(sweep["ENQUEUE_GRACE_SECONDS"]),
        "sweep `STUCK_AFTER_SECONDS`": int(sweep["STUCK_AFTER_SECONDS"]),
        "`NotificationsQueue` visibility timeout": notifications["VisibilityTimeout"],
        "`NotificationsQueue` max receive count": notifications["RedrivePolicy"]["maxReceiveCount"],
        "`NotificationsQueue` retention": notifications["MessageRetentionPeriod"],
        "`NotificationsDeadLetterQueue` retention": resources["NotificationsDeadLetterQueue"][
            "Properties"
        ]["MessageRetentionPeriod"],
        "notify batch size": notify["BatchSize"],
        "notify maximum concurrency": notify["ScalingConfig"]["MaximumConcurrency"],
    }


def test_the_queue_table_states_the_templates_figures(
    doc: str, template: dict[str, Any], resources: dict[str, Any]
) -> None:
    stated = {row["setting"]: number(row["value"]) for row in table(doc, "setting")}
    assert stated == queue_figures(template, resources)


def test_figures_in_the_prose_agree(doc: str, resources: dict[str, Any]) -> None:
    """Wherever the page names the batching window, the receive count or the visibility
    timeouts in a sentence, the number is the template's."""
    window = sqs_event(resources, "PredictFunction")["MaximumBatchingWindowInSeconds"]
    receives = resources["JobsQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
    visibility = resources["JobsQueue"]["Properties"]["VisibilityTimeout"]
    windows = re.findall(r"batching window \((\d+) s\)|(\d+) s batching window", doc)
    assert windows and {int(a or b) for a, b in windows} == {window}
    counts = re.findall(r"(\d+) (?:receives|attempts|tries)\b", doc)
    assert counts and {int(c) for c in counts} == {receives}
    assert f"{receives} x {visibility} s" in doc  # the stuck-row bound


def test_the_stated_retry_period_of_dead_letters_is_the_visibility_timeout(
    doc: str, resources: dict[str, Any]
) -> None:
    visibility = resources["JobsDeadLetterQueue"]["Properties"]["VisibilityTimeout"]
    assert f"retried every {visibility} s" in doc


# ------------------------------------------------------------------ alarms


def test_the_alarms_table_names_every_alarm(doc: str, resources: dict[str, Any]) -> None:
    listed = {row["alarm"].strip("`") for row in table(doc, "alarm")}
    assert listed == set(of_type(resources, ALARM_TYPE))


def test_every_stated_number_of_alarms_and_alarm_metrics_is_right(
    doc: str, resources: dict[str, Any]
) -> None:
    alarms = of_type(resources, ALARM_TYPE).values()
    metrics = sum(
        len([m for m in a["Properties"].get("Metrics", []) if "MetricStat" in m]) or 1
        for a in alarms
    )
    counts = re.findall(r"(\d+) alarms\b", doc)
    assert counts and {int(c) for c in counts} == {len(alarms)}
    assert f"{len(alarms)} alarms reading {metrics} metrics" in doc
    (cost,) = [r for r in table(doc, "Item") if r["Item"].startswith("CloudWatch:")]
    assert cost["Per month"] == f"${metrics * 0.10:.2f}"


# ------------------------------------------------------------------ the guided deploy


def test_the_guided_deploy_prompts_for_every_http_function(
    doc: str, functions: dict[str, Any]
) -> None:
    """`sam deploy --guided` asks "<function> has no authentication. Is this okay?" once per
    HTTP API event of a function without an authorizer: the page names each, with the count."""
    words = {1: "once", 2: "twice", 3: "three times", 4: "four times", 5: "five times"}
    for name, function in functions.items():
        events = [
            e for e in function["Properties"].get("Events", {}).values() if e["Type"] == "HttpApi"
        ]
        if events:
            prompt = f"`{name} has no authentication. Is this okay? [y/N]` ({words[len(events)]}"
            assert prompt in doc, prompt
