"""Properties of infra/template.yaml: routes, queue, bucket, database, alarms, migrations."""

from __future__ import annotations

import re
from typing import Any

import pytest
from dogdetect.domain.limits import MAX_WAIT_SECONDS

from tests.infra.conftest import (
    MIGRATE_FUNCTION,
    REPO_ROOT,
    as_list,
    at_default,
    dependencies,
    environment,
    function_property,
    of_type,
    ref_target,
    references,
    transitive_dependencies,
    walk,
)

# The functions that serve the application (everything but the migration).
APP_FUNCTIONS = (
    "SubmitFunction",
    "StatusFunction",
    "PredictFunction",
    "SweepFunction",
    "DeadLetterFunction",
)
EXPECTED_ROUTES = {
    ("POST", "/image_prediction"): "SubmitFunction",
    ("POST", "/image_prediction/uploads"): "SubmitFunction",  # a presigned POST to S3
    ("GET", "/image_prediction"): "StatusFunction",  # past predictions
    ("GET", "/image_prediction/{image_prediction_id}"): "StatusFunction",
    ("GET", "/image_prediction/{image_prediction_id}/annotated"): "StatusFunction",
    ("DELETE", "/image_prediction/{image_prediction_id}"): "SubmitFunction",  # the write side
    ("GET", "/health"): "StatusFunction",
    ("ANY", "$default"): "StatusFunction",  # unknown paths get the API's JSON 404
}


def events_of(function: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [
        e["Properties"]
        for e in function["Properties"].get("Events", {}).values()
        if e["Type"] == type_
    ]


def sqs_event(resources: dict[str, Any], function: str = "PredictFunction") -> dict[str, Any]:
    (event,) = events_of(resources[function], "SQS")
    return event


def max_receive_count(resources: dict[str, Any]) -> int:
    count = resources["JobsQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
    assert isinstance(count, int)  # literal: read by local/
    return count


# ------------------------------------------------------------------ HTTP API


def test_routes(functions: dict[str, Any]) -> None:
    routes = {
        (e["Method"].upper(), e["Path"]): name
        for name, f in functions.items()
        for e in events_of(f, "HttpApi")
    }
    assert routes == EXPECTED_ROUTES


def test_routes_belong_to_the_http_api(
    resources: dict[str, Any], functions: dict[str, Any]
) -> None:
    (api,) = of_type(resources, "AWS::Serverless::HttpApi")
    for f in functions.values():
        for event in events_of(f, "HttpApi"):
            assert ref_target(event["ApiId"]) == api


def test_status_outlasts_the_longest_wait_within_the_gateways_limit(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    """Prefer: wait=N holds a GET up to MAX_WAIT_SECONDS: the function must outlast it (one
    more look at the database), and HTTP API gives up on an integration at 30 s."""
    timeout = function_property(template, resources["StatusFunction"], "Timeout")
    assert MAX_WAIT_SECONDS + 5 <= timeout < 30


def test_default_route_throttling(template: dict[str, Any], resources: dict[str, Any]) -> None:
    (api,) = of_type(resources, "AWS::Serverless::HttpApi").values()
    settings = {
        **template.get("Globals", {}).get("HttpApi", {}).get("DefaultRouteSettings", {}),
        **api["Properties"].get("DefaultRouteSettings", {}),
    }
    parameters = template["Parameters"]
    for key in ("ThrottlingBurstLimit", "ThrottlingRateLimit"):
        value = settings[key]
        name = ref_target(value)
        number = parameters[name]["Default"] if name else value
        assert 0 < float(number) <= 10_000


# ------------------------------------------------------------------ queue and predict


def test_visibility_timeout_covers_six_predict_timeouts(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    timeout = function_property(template, resources["PredictFunction"], "Timeout")
    window = sqs_event(resources).get("MaximumBatchingWindowInSeconds", 0)
    visibility = resources["JobsQueue"]["Properties"]["VisibilityTimeout"]
    assert isinstance(timeout, int) and isinstance(visibility, int)  # literal: read by local/
    assert visibility >= 6 * timeout + window


def test_redrive_to_the_dead_letter_queue(resources: dict[str, Any]) -> None:
    redrive = resources["JobsQueue"]["Properties"]["RedrivePolicy"]
    assert ref_target(redrive["deadLetterTargetArn"]) == "JobsDeadLetterQueue"
    # AWS: at least 5 when Lambda consumes the queue, so that throttled invocations (which
    # count as receives) do not dead-letter a job that never ran.
    assert 5 <= max_receive_count(resources) <= 10


@pytest.mark.parametrize("function", ["PredictFunction", "DeadLetterFunction"])
def test_consumers_know_the_receive_count(
    function: str, template: dict[str, Any], resources: dict[str, Any]
) -> None:
    """predict's last attempt records the error, and the dead-letter consumer's reason names
    the attempts: MAX_RECEIVE_COUNT must equal maxReceiveCount."""
    env = environment(template, resources[function])
    assert int(env["MAX_RECEIVE_COUNT"]) == max_receive_count(resources)


def test_stuck_predictions_are_given_up_only_after_the_queue_has(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    """The sweeper must not mark ERROR a job SQS may still deliver: the longest a message stays
    in the jobs queue is maxReceiveCount receives of VisibilityTimeout each."""
    stuck_after = int(environment(template, resources["SweepFunction"])["STUCK_AFTER_SECONDS"])
    visibility = resources["JobsQueue"]["Properties"]["VisibilityTimeout"]
    assert stuck_after > max_receive_count(resources) * visibility


QUEUES = ("JobsQueue", "JobsDeadLetterQueue", "NotificationsQueue", "NotificationsDeadLetterQueue")


def test_queues_are_encrypted(resources: dict[str, Any]) -> None:
    assert set(of_type(resources, "AWS::SQS::Queue")) == set(QUEUES)
    for name in QUEUES:
        props = resources[name]["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props, name


@pytest.mark.parametrize(
    ("queue", "dead_letters"),
    [("JobsQueue", "JobsDeadLetterQueue"), ("NotificationsQueue", "NotificationsDeadLetterQueue")],
)
def test_dead_letters_outlive_the_queue(
    resources: dict[str, Any], queue: str, dead_letters: str
) -> None:
    kept = resources[queue]["Properties"].get("MessageRetentionPeriod", 345600)
    dlq = resources[dead_letters]["Properties"]["MessageRetentionPeriod"]
    assert dlq > kept


def test_queues_deny_plain_http(resources: dict[str, Any]) -> None:
    policies = of_type(resources, "AWS::SQS::QueuePolicy").values()
    covered = set()
    for policy in policies:
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement.get("Condition", {}).get("Bool", {}).get(
                "aws:SecureTransport"
            ) in ("false", False):
                covered |= references(statement["Resource"])
    assert set(QUEUES) <= covered


def test_dead_letter_consumer_event_source(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    event = sqs_event(resources, "DeadLetterFunction")
    assert ref_target(event["Queue"]) == "JobsDeadLetterQueue"
    assert event["BatchSize"] == 10
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 2 <= event["ScalingConfig"]["MaximumConcurrency"] <= 5
    # the same rule as the jobs queue: >= 6 x the consumer's timeout + its batching window
    timeout = function_property(template, resources["DeadLetterFunction"], "Timeout")
    window = event.get("MaximumBatchingWindowInSeconds", 0)
    visibility = resources["JobsDeadLetterQueue"]["Properties"]["VisibilityTimeout"]
    assert visibility >= 6 * timeout + window
    # and nothing but that function consumes the dead-letter queue
    consumers = [
        name
        for name, r in resources.items()
        if r["Type"] == "AWS::Serverless::Function"
        for e in events_of(r, "SQS")
        if ref_target(e["Queue"]) == "JobsDeadLetterQueue"
    ]
    assert consumers == ["DeadLetterFunction"]


def test_predict_event_source(template: dict[str, Any], resources: dict[str, Any]) -> None:
    event = sqs_event(resources)
    assert ref_target(event["Queue"]) == "JobsQueue"
    assert isinstance(event["BatchSize"], int) and 1 <= event["BatchSize"] <= 10
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "PredictMaxConcurrency"}
    assert 2 <= at_default(template, event["ScalingConfig"]["MaximumConcurrency"]) <= 20


def test_predict_is_the_image_function(template: dict[str, Any], resources: dict[str, Any]) -> None:
    predict = resources["PredictFunction"]
    props = predict["Properties"]
    assert props["PackageType"] == "Image"
    assert not {"Runtime", "Handler", "Layers", "CodeUri"} & set(props)
    metadata = predict["Metadata"]
    context = (REPO_ROOT / "infra" / metadata["DockerContext"]).resolve()
    assert context == REPO_ROOT
    assert (context / metadata["Dockerfile"]).is_file()
    env = environment(template, predict)
    assert env["YOLO_CONFIG_DIR"] == "/tmp"
    assert str(env["YOLO_OFFLINE"]) == "1"
    assert str(env["YOLO_AUTOINSTALL"]).lower() == "false"
    assert env["MODEL_PATH"].startswith("/opt/models/")
    memory = props["MemorySize"]
    name = ref_target(memory)
    # A full vCPU (Lambda gives 1 vCPU at 1,769 MB): less costs the same per image (CPU-bound
    # work slows in proportion) and starts colder; the floor still holds the ~330 MB peak.
    assert name is not None
    assert int(template["Parameters"][name]["Default"]) == 1769
    assert int(template["Parameters"][name]["MinValue"]) >= 512
    assert 30 <= props["Timeout"] <= 300


# ------------------------------------------------------------------ bucket


def test_bucket_is_encrypted_and_private(resources: dict[str, Any]) -> None:
    props = resources["UploadsBucket"]["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    block = props["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }


def test_bucket_denies_plain_http(resources: dict[str, Any]) -> None:
    policies = [
        p
        for p in of_type(resources, "AWS::S3::BucketPolicy").values()
        if ref_target(p["Properties"]["Bucket"]) == "UploadsBucket"
    ]
    assert len(policies) == 1
    statements = policies[0]["Properties"]["PolicyDocument"]["Statement"]
    deny = [
        s
        for s in statements
        if s["Effect"] == "Deny"
        and s["Principal"] in ("*", {"AWS": "*"})
        and "s3:*" in as_list(s["Action"])
        and s["Condition"]["Bool"]["aws:SecureTransport"] in ("false", False)
    ]
    assert len(deny) == 1
    resources_named = as_list(deny[0]["Resource"])
    assert {"Fn::GetAtt": ["UploadsBucket", "Arn"]} in resources_named
    assert {"Fn::Sub": "${UploadsBucket.Arn}/*"} in resources_named


def test_uploads_expire(template: dict[str, Any], resources: dict[str, Any]) -> None:
    rules = resources["UploadsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    (expiry,) = [
        r
        for r in rules
        if r["Status"] == "Enabled"
        and (r.get("Prefix") or r.get("Filter", {}).get("Prefix")) == "uploads/"
    ]
    days = ref_target(expiry["ExpirationInDays"])
    assert days in template["Parameters"]
    assert 1 <= template["Parameters"][days]["Default"] <= 90


def test_every_prefix_a_function_writes_expires(resources: dict[str, Any]) -> None:
    """Whatever a role may put in the bucket (photos, drop boxes, drawings) has a lifecycle
    rule: an object no row names (a crash between two steps) goes by itself."""
    rules = resources["UploadsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    expiring = {
        r.get("Prefix") for r in rules if r["Status"] == "Enabled" and "ExpirationInDays" in r
    }
    roles = [r for r in resources.values() if r["Type"] == "AWS::IAM::Role"]
    statements = [
        statement
        for role in roles
        for policy in role["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    written = {
        target["Fn::Sub"].removeprefix("${UploadsBucket.Arn}/").removesuffix("*")
        for statement in statements
        if "s3:PutObject" in as_list(statement["Action"])
        for target in as_list(statement["Resource"])
    }
    assert written == {"uploads/", "incoming/", "annotated/"}
    assert written <= expiring


# ------------------------------------------------------------------ database


def test_database_is_private_encrypted_and_rds_managed(resources: dict[str, Any]) -> None:
    db = resources["Database"]
    props = db["Properties"]
    assert props["PubliclyAccessible"] is False
    assert props["StorageEncrypted"] is True
    assert props["ManageMasterUserPassword"] is True
    assert db["DeletionPolicy"] == "Snapshot"
    assert references(props["DBSubnetGroupName"]) == {"DatabaseSubnetGroup"}


def test_no_password_anywhere(template: dict[str, Any]) -> None:
    for node in walk(template):
        if isinstance(node, dict):
            assert "MasterUserPassword" not in node
    assert not [p for p in template["Parameters"] if "password" in p.lower()]


def test_network_has_no_route_to_the_internet(resources: dict[str, Any]) -> None:
    types = {r["Type"] for r in resources.values()}
    assert not types & {"AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::EIP"}
    subnets = of_type(resources, "AWS::EC2::Subnet")
    assert len(subnets) == 2
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is False for s in subnets.values())
    zones = {str(s["Properties"]["AvailabilityZone"]) for s in subnets.values()}
    assert len(zones) == 2


def test_vpc_endpoints(template: dict[str, Any], resources: dict[str, Any]) -> None:
    """One for each AWS service the functions in the VPC call (it has no route out): the
    traces too, since every function traces (X-Ray's daemon sends them over HTTPS)."""
    assert template["Globals"]["Function"]["Tracing"] == "Active"
    endpoints = {
        r["Properties"]["ServiceName"]["Fn::Sub"].rsplit(".", 1)[-1]: r["Properties"][
            "VpcEndpointType"
        ]
        for r in of_type(resources, "AWS::EC2::VPCEndpoint").values()
    }
    assert endpoints == {
        "s3": "Gateway",
        "sqs": "Interface",
        "secretsmanager": "Interface",
        "xray": "Interface",
    }


def test_database_behind_rds_proxy(template: dict[str, Any], resources: dict[str, Any]) -> None:
    (proxy_name, proxy), *others = of_type(resources, "AWS::RDS::DBProxy").items()
    assert not others
    props = proxy["Properties"]
    assert props["EngineFamily"] == "POSTGRESQL"
    master, app = props["Auth"]
    assert master["SecretArn"] == {"Fn::GetAtt": ["Database", "MasterUserSecret.SecretArn"]}
    assert app["SecretArn"] == {"Ref": "AppDatabaseSecret"}
    (group,) = of_type(resources, "AWS::RDS::DBProxyTargetGroup").values()
    assert ref_target(group["Properties"]["DBProxyName"]) == proxy_name
    assert [ref_target(i) for i in group["Properties"]["DBInstanceIdentifiers"]] == ["Database"]
    # the database accepts connections from the proxy and the migration only
    assert database_ingress_sources(resources) == {"ProxySecurityGroup", "MigrateSecurityGroup"}
    # and the functions talk to the proxy
    for name in APP_FUNCTIONS:
        host = environment(template, resources[name])["DATABASE_HOST"]
        assert host["Fn::If"][1] == {"Fn::GetAtt": [proxy_name, "Endpoint"]}


def database_ingress_sources(resources: dict[str, Any]) -> set[str | None]:
    """The security groups the database instance's group admits: its own rules, and rules of
    their own (AWS::EC2::SecurityGroupIngress) on it."""
    rules = list(resources["DatabaseSecurityGroup"]["Properties"]["SecurityGroupIngress"])
    rules += [
        rule["Properties"]
        for rule in of_type(resources, "AWS::EC2::SecurityGroupIngress").values()
        if ref_target(rule["Properties"]["GroupId"]) == "DatabaseSecurityGroup"
    ]
    return {ref_target(rule["SourceSecurityGroupId"]) for rule in rules}


def test_the_migration_connects_to_the_instance_not_the_proxy(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    """The proxy's target group waits until every login it knows works (AUTH_FAILURE is a
    target-health reason), and the application role's login exists only once the migration
    created it: through the proxy, the first deploy's migration would wait on itself."""
    env = environment(template, resources[MIGRATE_FUNCTION])
    assert env["DATABASE_HOST"] == {
        "Fn::If": [
            "CreateDatabase",
            {"Fn::GetAtt": ["Database", "Endpoint.Address"]},
            {"Ref": "ExistingDatabaseHost"},
        ]
    }
    # the instance speaks TLS whatever the proxy's setting (which is for an existing database)
    assert env["DATABASE_TLS"]["Fn::If"][:2] == ["CreateDatabase", "true"]
    graph = dependencies(template)
    assert "DatabaseMigrations" in transitive_dependencies(graph, "DatabaseProxyTargetGroup")
    assert "DatabaseProxyTargetGroup" not in transitive_dependencies(graph, "DatabaseMigrations")


def test_only_the_migration_reaches_the_instance_past_the_proxy(
    template: dict[str, Any], resources: dict[str, Any], functions: dict[str, Any]
) -> None:
    """Its security group is the migration's alone, and the rule admitting it exists before the
    migration runs and until its last answer (the custom resource references it)."""
    for name, function in functions.items():
        groups = references(function_property(template, function, "VpcConfig"))
        assert ("MigrateSecurityGroup" in groups) == (name == MIGRATE_FUNCTION), name
    migrate_groups = function_property(template, resources[MIGRATE_FUNCTION], "VpcConfig")
    assert references(migrate_groups) >= {"FunctionSecurityGroup", "ExistingSecurityGroupId"}
    (rule_name,) = [
        name
        for name, rule in of_type(resources, "AWS::EC2::SecurityGroupIngress").items()
        if ref_target(rule["Properties"]["SourceSecurityGroupId"]) == "MigrateSecurityGroup"
    ]
    rule = resources[rule_name]["Properties"]
    assert rule["FromPort"] == rule["ToPort"] == {"Ref": "DatabasePort"}
    assert rule_name in transitive_dependencies(dependencies(template), "DatabaseMigrations")
    egress = resources["MigrateSecurityGroup"]["Properties"]["SecurityGroupEgress"]
    assert [ref_target(e["DestinationSecurityGroupId"]) for e in egress] == [
        "DatabaseSecurityGroup"
    ]


def test_existing_network_and_database_can_be_used(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    parameters = template["Parameters"]
    for name in (
        "ExistingVpcId",
        "ExistingSubnetIds",
        "ExistingSecurityGroupId",
        "ExistingDatabaseHost",
        "ExistingDatabaseSecretArn",
    ):
        assert parameters[name]["Default"] == ""
    conditions = template["Conditions"]
    assert references(conditions["CreateNetwork"]) == {"ExistingVpcId"}
    assert references(conditions["CreateDatabase"]) == {"ExistingDatabaseHost"}
    for name in ("Vpc", "PrivateSubnetA", "PrivateSubnetB", "S3GatewayEndpoint", "SqsEndpoint"):
        assert resources[name]["Condition"] == "CreateNetwork"
    for name in ("Database", "DatabaseProxy", "DatabaseProxyTargetGroup"):
        assert resources[name]["Condition"] == "CreateDatabase"
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["DATABASE_HOST"]["Fn::If"][2] == {"Ref": "ExistingDatabaseHost"}
    migrate_env = environment(template, resources[MIGRATE_FUNCTION])
    assert migrate_env["DATABASE_SECRET_ARN"]["Fn::If"][2] == {"Ref": "ExistingDatabaseSecretArn"}


# ------------------------------------------------------------------ migrations


def test_migrations_run_on_every_deploy(resources: dict[str, Any]) -> None:
    (name, migration), *others = [
        (k, v)
        for k, v in resources.items()
        if v["Type"].startswith("Custom::") or v["Type"] == "AWS::CloudFormation::CustomResource"
    ]
    assert not others
    props = migration["Properties"]
    assert props["ServiceToken"] == {"Fn::GetAtt": ["MigrateFunction", "Arn"]}
    assert props["MigrationsVersion"] == {"Ref": "MigrationsVersion"}
    assert props["CoreLayerVersion"] == {"Ref": "CoreLayer"}
    infra_mk = (REPO_ROOT / "infra" / "infra.mk").read_text()
    assert "MigrationsVersion=$(MIGRATIONS_VERSION)" in infra_mk
    # the functions get their new code only after the schema is upgraded
    for function in APP_FUNCTIONS:
        assert name in as_list(resources[function].get("DependsOn", []))


# What the migration function needs to answer CloudFormation (Create, Update, Delete, and the
# Update a rollback sends), with a network the template creates.
NEEDED_BY_THE_MIGRATION = {
    # the answer is a PUT to a pre-signed S3 URL: through the gateway endpoint, which is a
    # route in the private route table, which the subnets must be associated with
    "S3GatewayEndpoint",
    "PrivateRouteTable",
    "PrivateSubnetARouteTable",
    "PrivateSubnetBRouteTable",
    # the database logins (master and application secrets), through the interface endpoint
    "SecretsManagerEndpoint",
    "EndpointSecurityGroup",
    "AppDatabaseSecret",
    # the function itself and what it runs with
    MIGRATE_FUNCTION,
    "MigrateFunctionRole",
    "MigrateLogGroup",
    "CoreLayer",
    "DepsLayer",
    "PrivateSubnetA",
    "PrivateSubnetB",
    "FunctionSecurityGroup",
    "Vpc",
    # the database instance, straight (never the proxy, whose target waits for the migration)
    "Database",
    "DatabaseSecurityGroup",
    "MigrateSecurityGroup",
}


def test_the_migration_outlives_what_it_needs(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    """CloudFormation deletes a resource only after everything that depends on it. If the S3
    endpoint or the route to it went first, the migration could not answer the Delete (or a
    rollback's Update): the teardown would hang until ServiceTimeout and fail."""
    graph = dependencies(template)
    needed = transitive_dependencies(graph, "DatabaseMigrations")
    assert needed_missing(needed) == set()
    # everything the migrate function's own definition names comes along
    assert graph[MIGRATE_FUNCTION] <= needed
    assert not any(n in needed for n in APP_FUNCTIONS)  # no cycle through DependsOn


def needed_missing(needed: set[str]) -> set[str]:
    return NEEDED_BY_THE_MIGRATION - needed


def test_the_dependency_graph_sees_sam_globals_and_depends_on(template: dict[str, Any]) -> None:
    """The graph the previous test reads: VpcConfig, Layers and Role are SAM properties (some
    from Globals) and still order CloudFormation's work; DependsOn does too."""
    graph = dependencies(template)
    assert {"PrivateSubnetA", "FunctionSecurityGroup"} <= graph[MIGRATE_FUNCTION]  # Globals
    assert {"CoreLayer", "DepsLayer", "MigrateFunctionRole"} <= graph[MIGRATE_FUNCTION]
    assert "DatabaseMigrations" in graph["SubmitFunction"]  # DependsOn
    assert "S3GatewayEndpoint" not in graph[MIGRATE_FUNCTION]


def test_the_network_dependencies_vanish_with_an_existing_network(
    resources: dict[str, Any],
) -> None:
    """DependsOn cannot be conditional: the dependencies are a property that is AWS::NoValue
    when the template creates no network (then there is nothing of ours to order)."""
    conditional = [
        value
        for value in resources["DatabaseMigrations"]["Properties"].values()
        if isinstance(value, dict) and "Fn::If" in value and value["Fn::If"][0] == "CreateNetwork"
    ]
    (network_path,) = conditional
    assert network_path["Fn::If"][2] == {"Ref": "AWS::NoValue"}
    for name in references(network_path["Fn::If"][1]):
        assert resources[name]["Condition"] == "CreateNetwork", name


def test_no_function_reserves_concurrency(
    template: dict[str, Any], functions: dict[str, Any]
) -> None:
    """A new account's concurrency quota may be 10, all of which AWS keeps unreserved: any
    reservation fails the first deploy. (Sweeps are kept apart by an advisory lock.)"""
    for name, function in functions.items():
        assert function_property(template, function, "ReservedConcurrentExecutions") is None, name
        assert function_property(template, function, "ProvisionedConcurrencyConfig") is None, name


# ------------------------------------------------------------------ functions and layers


def test_zip_functions(template: dict[str, Any], functions: dict[str, Any]) -> None:
    zipped = {k: v for k, v in functions.items() if v["Properties"].get("PackageType") != "Image"}
    assert set(zipped) == {
        "SubmitFunction",
        "StatusFunction",
        "SweepFunction",
        "DeadLetterFunction",
        "NotifyFunction",
        MIGRATE_FUNCTION,
    }
    for f in zipped.values():
        props = f["Properties"]
        assert props["Runtime"] == "python3.13"
        assert props["Handler"] == "app.handler"
        assert [ref_target(layer) for layer in props["Layers"]] == ["CoreLayer", "DepsLayer"]
    for f in functions.values():
        assert function_property(template, f, "Architectures") == ["x86_64"]


def test_sweep_runs_every_minute(resources: dict[str, Any]) -> None:
    (event,) = events_of(resources["SweepFunction"], "Schedule")
    assert event["Schedule"] == "rate(1 minute)"


def test_layers_build_with_python(resources: dict[str, Any]) -> None:
    core = resources["CoreLayer"]
    deps = resources["DepsLayer"]
    for layer in (core, deps):
        assert layer["Metadata"]["BuildMethod"] == "python3.13"
        assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    core_dir = (REPO_ROOT / "infra" / core["Properties"]["ContentUri"]).resolve()
    deps_dir = (REPO_ROOT / "infra" / deps["Properties"]["ContentUri"]).resolve()
    # SAM copies the folder into python/, so the package must sit at its top level
    assert (core_dir / "dogdetect" / "__init__.py").is_file()
    assert (core_dir / "requirements.txt").is_file()
    assert (deps_dir / "requirements.txt").is_file()


# ------------------------------------------------------------------ alarms and outputs


def alarms(resources: dict[str, Any]) -> list[dict[str, Any]]:
    return [a["Properties"] for a in of_type(resources, "AWS::CloudWatch::Alarm").values()]


def metrics_of(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """The metrics an alarm reads: its own, or those of its metric-math expression."""
    if "MetricName" in alarm:
        return [alarm]
    return [m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m]


def alarm_on(resources: dict[str, Any], metric: str, dimension_target: str) -> dict[str, Any]:
    (alarm,) = [
        a
        for a in alarms(resources)
        if any(
            m["MetricName"] == metric
            and any(ref_target(d["Value"]) == dimension_target for d in m["Dimensions"])
            for m in metrics_of(a)
        )
    ]
    return alarm


def test_alarms_notify_the_topic(resources: dict[str, Any]) -> None:
    (topic,) = of_type(resources, "AWS::SNS::Topic")
    assert alarms(resources)
    for alarm in alarms(resources):
        assert {"Ref": topic} in alarm["AlarmActions"]
    (subscription,) = of_type(resources, "AWS::SNS::Subscription").values()
    assert subscription["Condition"] == "HasAlarmEmail"


def test_dead_letter_queue_not_drained_alarm(resources: dict[str, Any]) -> None:
    """The consumer empties the dead-letter queue in seconds: messages there for 15 minutes,
    visible or in flight (a failing consumer keeps them in flight), mean it is failing."""
    alarm = alarm_on(resources, "ApproximateNumberOfMessagesVisible", "JobsDeadLetterQueue")
    assert alarm is alarm_on(
        resources, "ApproximateNumberOfMessagesNotVisible", "JobsDeadLetterQueue"
    )
    assert {m["Namespace"] for m in metrics_of(alarm)} == {"AWS/SQS"}
    (expression,) = [m for m in alarm["Metrics"] if "Expression" in m]
    stats = {m["Id"]: m for m in alarm["Metrics"] if "MetricStat" in m}
    assert set(expression["Expression"].replace("+", " ").split()) == set(stats)
    assert all(m["ReturnData"] is False for m in stats.values())
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["Threshold"] == 0
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"]  # for a whole stretch
    assert alarm["TreatMissingData"] == "notBreaching"


def test_predictions_abandoned_alarm(template: dict[str, Any], resources: dict[str, Any]) -> None:
    """On the metric the consumer emits: Powertools' namespace and its one dimension, the
    service name (tests/unit/service/test_deadletter.py checks the emitted document)."""
    (alarm,) = [a for a in alarms(resources) if a.get("MetricName") == "PredictionsAbandoned"]
    env = environment(template, resources["DeadLetterFunction"])
    assert alarm["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"]
    assert alarm["Dimensions"] == [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}]
    assert alarm["Statistic"] == "Sum"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["Threshold"] == 0


def test_oldest_message_alarm(resources: dict[str, Any]) -> None:
    alarm = alarm_on(resources, "ApproximateAgeOfOldestMessage", "JobsQueue")
    assert alarm["Namespace"] == "AWS/SQS"
    assert 60 <= alarm["Threshold"] <= 3600


def test_every_function_has_an_errors_alarm(
    resources: dict[str, Any], functions: dict[str, Any]
) -> None:
    for name in functions:
        alarm = alarm_on(resources, "Errors", name)
        assert alarm["Namespace"] == "AWS/Lambda"
        assert alarm["Threshold"] == 0


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert "${HttpApi}" in outputs["ApiUrl"]["Value"]["Fn::Sub"]
    assert ref_target(outputs["UploadsBucketName"]["Value"]) == "UploadsBucket"
    assert ref_target(outputs["JobsQueueName"]["Value"]) == "JobsQueue"
    assert ref_target(outputs["JobsDeadLetterQueueName"]["Value"]) == "JobsDeadLetterQueue"


# ------------------------------------------------------------------ webhooks


def notify_environment(template: dict[str, Any], resources: dict[str, Any]) -> dict[str, Any]:
    return environment(template, resources["NotifyFunction"])


def test_notify_runs_outside_the_vpc_and_everything_else_inside(
    template: dict[str, Any], functions: dict[str, Any]
) -> None:
    """notify calls clients' servers on the internet: a VPC with no route out would stop it,
    and outside it reaches nothing of ours. SAM takes the intrinsic as the whole value."""
    for name, function in functions.items():
        vpc = function_property(template, function, "VpcConfig")
        if name == "NotifyFunction":
            assert vpc == {"Ref": "AWS::NoValue"}
        else:
            assert set(vpc) == {"SubnetIds", "SecurityGroupIds"}, name


def test_notifications_are_tried_five_times_over_about_an_hour(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    queue = resources["NotificationsQueue"]["Properties"]
    redrive = queue["RedrivePolicy"]
    assert ref_target(redrive["deadLetterTargetArn"]) == "NotificationsDeadLetterQueue"
    tries = redrive["maxReceiveCount"]
    assert isinstance(tries, int) and tries == 5  # literal: read by local/
    env = notify_environment(template, resources)
    assert int(env["MAX_RECEIVE_COUNT"]) == tries  # the last try dead-letters at once
    delays = [int(d) for d in env["WEBHOOK_RETRY_DELAYS"].split(",")]
    assert len(delays) == tries - 1 and delays == sorted(delays)  # backing off
    assert 45 * 60 <= sum(delays) <= 75 * 60
    assert queue["MessageRetentionPeriod"] > sum(delays)


def test_notify_event_source(template: dict[str, Any], resources: dict[str, Any]) -> None:
    from dogdetect.adapters.webhook_sender import Timeouts

    event = sqs_event(resources, "NotifyFunction")
    assert ref_target(event["Queue"]) == "NotificationsQueue"
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    timeout = function_property(template, resources["NotifyFunction"], "Timeout")
    # A batch's tries run at once (`process_sqs_batch_in_parallel`), each within its deadline
    # (resolving included): the batch fits in the timeout, however slow each client's server.
    assert Timeouts().resolve < Timeouts().total < timeout
    assert event["BatchSize"] <= 10 and event["ScalingConfig"]["MaximumConcurrency"] >= 10
    window = event.get("MaximumBatchingWindowInSeconds", 0)
    assert (
        resources["NotificationsQueue"]["Properties"]["VisibilityTimeout"] >= 6 * timeout + window
    )
    consumers = [
        name
        for name, r in resources.items()
        if r["Type"] == "AWS::Serverless::Function"
        for e in events_of(r, "SQS")
        if ref_target(e["Queue"]) in ("NotificationsQueue", "NotificationsDeadLetterQueue")
    ]
    assert consumers == ["NotifyFunction"]  # the dead letters wait for an operator


def test_senders_know_the_notifications_queue(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    for name in ("PredictFunction", "DeadLetterFunction", "SweepFunction", "NotifyFunction"):
        env = environment(template, resources[name])
        assert ref_target(env["NOTIFICATIONS_QUEUE_URL"]) == "NotificationsQueue", name


def test_the_signing_secret_is_generated_in_the_specifications_format(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    secret = resources["WebhookSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret" and "Condition" not in secret
    generate = secret["Properties"]["GenerateSecretString"]
    assert "SecretString" not in secret["Properties"]
    assert "SecretStringTemplate" not in generate  # the bare value, not JSON
    # Letters and digits only, a multiple of 4 long: valid base64 with no padding, of
    # 24..64 bytes (the Standard Webhooks range).
    assert generate["ExcludePunctuation"] is True and generate["IncludeSpace"] is False
    length = generate["PasswordLength"]
    assert length % 4 == 0 and 24 <= length * 3 // 4 <= 64
    assert ref_target(notify_environment(template, resources)["WEBHOOK_SECRET_ARN"]) == (
        "WebhookSecret"
    )
    assert ref_target(template["Outputs"]["WebhookSecretArn"]["Value"]) == "WebhookSecret"


def test_plain_http_webhooks_are_off_in_the_cloud(template: dict[str, Any]) -> None:
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["ALLOW_HTTP_WEBHOOKS"] == "false"


def test_dead_lettered_webhooks_raise_an_alarm(resources: dict[str, Any]) -> None:
    alarm = alarm_on(
        resources, "ApproximateNumberOfMessagesVisible", "NotificationsDeadLetterQueue"
    )
    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["Threshold"] == 0
    assert alarm["TreatMissingData"] == "notBreaching"


def test_the_wait_and_drawing_limits_default_as_the_settings_do(template: dict[str, Any]) -> None:
    """The template sets status's WAITS_* and DRAWINGS_TOTAL from its parameters; their
    defaults are the settings' (what tests, `make local` and docs/scaling.md assume)."""
    from dogdetect.config import Settings

    parameters, settings = template["Parameters"], Settings()
    assert parameters["MaxConcurrentWaits"]["Default"] == settings.waits_total
    assert parameters["WaitsPerClient"]["Default"] == settings.waits_per_client
    status = template["Resources"]["StatusFunction"]["Properties"]["Environment"]["Variables"]
    assert status["WAITS_TOTAL"] == {"Ref": "MaxConcurrentWaits"}
    assert status["WAITS_PER_CLIENT"] == {"Ref": "WaitsPerClient"}
    assert parameters["MaxConcurrentDrawings"]["Default"] == settings.drawings_total
    assert status["DRAWINGS_TOTAL"] == {"Ref": "MaxConcurrentDrawings"}


# ------------------------------------------------------------------ names within AWS's limits

LONGEST_STACK_NAME = "s" * 128  # CloudFormation's limit
STACK_ID = (
    "arn:aws:cloudformation:ap-southeast-4:123456789012:stack/"
    f"{LONGEST_STACK_NAME}/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
)
PSEUDO = {"AWS::StackName": LONGEST_STACK_NAME, "AWS::StackId": STACK_ID}


def resolved(node: Any) -> Any:
    """A name built from the stack's pseudo parameters (Ref, Fn::Sub, Fn::Join, Fn::Select,
    Fn::Split), as CloudFormation resolves it."""
    if not isinstance(node, dict):
        return node
    ((key, value),) = node.items()
    if key == "Ref":
        return PSEUDO[value]
    if key == "Fn::Sub":
        return re.sub(r"\$\{([^}]+)\}", lambda m: PSEUDO[m[1]], value)
    if key == "Fn::Join":
        return value[0].join(resolved(part) for part in value[1])
    if key == "Fn::Select":
        return resolved(value[1])[int(value[0])]
    if key == "Fn::Split":
        return resolved(value[1]).split(value[0])
    raise AssertionError(f"cannot resolve {key}")


def test_the_proxy_name_fits_rds_for_any_stack_name(resources: dict[str, Any]) -> None:
    """RDS takes 1 to 60 letters, digits and hyphens, a letter first, no `--`, no trailing
    hyphen; a stack name may have 128 characters."""
    name = resolved(resources["DatabaseProxy"]["Properties"]["DBProxyName"])
    assert re.fullmatch(r"[a-zA-Z](-?[a-zA-Z0-9])*", name) and len(name) <= 60, name
