"""`make local` and the cloud stack do not drift apart: the local gateway serves the
template's routes with the template's handlers, the local queue is created with the template's
visibility timeout and redrive policy, the local poller uses its batch size, and the functions
see the same environment variable names. Checked against cfn-lint's reading of the template,
independently of local/template.py's own reader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from local.aws import Resources, ensure_resources
from local.config import LocalConfig
from local.functions import load_function
from local.gateway import Gateway
from local.stack import function_environment
from local.template import functions as local_functions
from tests.infra.conftest import at_default, environment, function_property

# Set only by `make local`: where the emulated services are, and their fake credentials.
LOCAL_ONLY = {
    "AWS_ENDPOINT_URL",
    "DATABASE_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "POWERTOOLS_METRICS_DISABLED",
    "POWERTOOLS_TRACE_DISABLED",
    "WEBHOOK_SECRET",  # the signing secret itself, new per start (the cloud's: its ARN)
}


def template_routes(functions: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {
        (e["Properties"]["Method"].upper(), e["Properties"]["Path"]): Path(
            f["Properties"]["CodeUri"]
        ).name
        for f in functions.values()
        for e in f["Properties"].get("Events", {}).values()
        if e["Type"] == "HttpApi"
    }


def test_gateway_serves_the_templates_routes_with_its_handlers(
    functions: dict[str, Any],
) -> None:
    gateway = Gateway(environments={name: {} for name in local_functions()})
    try:
        local = {(r.method, r.path): r.function for r in gateway.routes}
        local[("ANY", "$default")] = gateway.default_function
        assert local == template_routes(functions)
        for name in gateway.pools:
            assert callable(load_function(name).handler)  # functions/<CodeUri>/app.py's
    finally:
        gateway.close()


def test_local_functions_time_out_as_the_template_declares(
    template: dict[str, Any], functions: dict[str, Any]
) -> None:
    local = {spec.logical_id: spec.timeout_seconds for spec in local_functions().values()}
    declared = {n: float(function_property(template, f, "Timeout")) for n, f in functions.items()}
    assert local == declared


def test_local_functions_have_the_memory_the_template_declares(
    template: dict[str, Any], functions: dict[str, Any]
) -> None:
    """What each environment may hold and the cores it is pinned to (local/cpus.py) follow the
    MemorySize the cloud deploys: its own or the Globals', a parameter's at its default."""
    defaults = {name: p.get("Default") for name, p in template["Parameters"].items()}

    def deployed(function: dict[str, Any]) -> int:
        size = function_property(template, function, "MemorySize") or 128  # Lambda's default
        return int(defaults[size["Ref"]] if isinstance(size, dict) else size)

    local = {spec.logical_id: spec.memory_mb for spec in local_functions().values()}
    assert local == {name: deployed(function) for name, function in functions.items()}
    assert local["PredictFunction"] == 1769  # PredictMemorySize: one vCPU


def test_local_queue_is_created_as_the_template_declares(
    resources: dict[str, Any], tmp_path: Path
) -> None:
    declared = resources["JobsQueue"]["Properties"]
    with mock_aws():
        created = ensure_resources(LocalConfig(state_dir=tmp_path), endpoint=None)  # type: ignore[arg-type]
        sqs = boto3.client("sqs", region_name="us-east-1")
        attributes = sqs.get_queue_attributes(QueueUrl=created.queue_url, AttributeNames=["All"])[
            "Attributes"
        ]
    assert int(attributes["VisibilityTimeout"]) == declared["VisibilityTimeout"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == declared["RedrivePolicy"]["maxReceiveCount"]


def test_local_notifications_queue_is_created_as_the_template_declares(
    resources: dict[str, Any], tmp_path: Path
) -> None:
    declared = resources["NotificationsQueue"]["Properties"]
    with mock_aws():
        created = ensure_resources(LocalConfig(state_dir=tmp_path), endpoint=None)  # type: ignore[arg-type]
        sqs = boto3.client("sqs", region_name="us-east-1")
        attributes = sqs.get_queue_attributes(
            QueueUrl=created.notifications_queue_url, AttributeNames=["All"]
        )["Attributes"]
    assert int(attributes["VisibilityTimeout"]) == declared["VisibilityTimeout"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == declared["RedrivePolicy"]["maxReceiveCount"]
    assert redrive["deadLetterTargetArn"] == created.notifications_dead_letter_queue_arn


def test_every_queue_of_the_template_exists_locally(resources: dict[str, Any]) -> None:
    declared = {name for name, r in resources.items() if r["Type"] == "AWS::SQS::Queue"}
    local = Resources("bucket", "http://queue", "arn:queue", "http://dlq", "arn:dlq")
    assert set(local.queues) == declared


def test_local_webhooks_retry_as_the_template_declares(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    """The settings' schedule is the template's; `make local` keeps the same number of tries
    on a schedule of its own, in seconds (LOCAL_WEBHOOK_RETRY_DELAYS, documented)."""
    from dogdetect.config import Settings
    from dogdetect.domain.webhooks.retry import parse_delays

    declared = environment(template, resources["NotifyFunction"])["WEBHOOK_RETRY_DELAYS"]
    assert Settings().webhook_retry_delays == declared
    local = parse_delays(LocalConfig().webhook_retry_delays)
    assert len(local) == len(parse_delays(declared)) and sum(local) < 60


def test_poller_batches_as_the_event_source_mapping(resources: dict[str, Any]) -> None:
    (source,) = [
        e["Properties"]
        for e in resources["PredictFunction"]["Properties"]["Events"].values()
        if e["Type"] == "SQS"
    ]
    local = LocalConfig().queue_config
    assert local.batch_size == source["BatchSize"]
    assert local.batching_window_seconds == source["MaximumBatchingWindowInSeconds"]


def test_functions_see_the_templates_variable_names(
    template: dict[str, Any], functions: dict[str, Any]
) -> None:
    resources = Resources("bucket", "http://queue", "arn:queue", "http://dlq", "arn:dlq")
    local_names = set(
        function_environment(LocalConfig(), "postgresql://x", "http://aws", resources)
    )
    cloud_names = {name for f in functions.values() for name in environment(template, f)}
    assert local_names - LOCAL_ONLY <= cloud_names
    # and what the template gives the functions that read queue and bucket, local gives too
    for name in ("BUCKET_NAME", "QUEUE_URL", "MAX_RECEIVE_COUNT", "NOTIFICATIONS_QUEUE_URL"):
        assert name in local_names and name in cloud_names


def test_event_sources_run_as_many_batches_at_once_as_the_template_allows(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    """Lambda's pollers deliver up to ScalingConfig.MaximumConcurrency batches at once;
    `make local` does the same, bounded by the machine's cores for predict's model (CPU-bound:
    one environment per vCPU its PredictMemorySize buys, 1 at the default), not for notify
    (its batches wait on clients' servers)."""
    from local.supervisor import event_sources, machine_cores

    names = Resources("b", "http://q", "arn:q", "http://d", "arn:d", "http://n", "arn:n")
    local = {source.function: source.concurrency for source in event_sources(names)}
    cores = machine_cores()
    for function, logical_id in (("predict", "PredictFunction"), ("notify", "NotifyFunction")):
        (source,) = [
            e["Properties"]
            for e in resources[logical_id]["Properties"]["Events"].values()
            if e["Type"] == "SQS"
        ]
        declared = at_default(
            template, source.get("ScalingConfig", {}).get("MaximumConcurrency", cores)
        )
        assert local[function] == (min(declared, cores) if function == "predict" else declared)
