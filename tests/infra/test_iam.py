"""One role per function, naming only that function's resources."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import (
    APP_SECRET_REFS,
    MASTER_SECRET_REFS,
    MIGRATE_FUNCTION,
    SECRET_REFS,
    as_list,
    environment,
    ref_target,
    references,
)

# Actions AWS only grants on Resource "*": X-Ray has no resource-level permissions, and the
# ENI actions Lambda's VPC networking needs take no resource ARNs (as in the managed policy
# AWSLambdaVPCAccessExecutionRole). Nothing else may use "*".
STAR_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}

# function -> (the resources its role may name, actions it needs, actions it must not have)
SCOPE: dict[str, tuple[set[str], set[str], set[str]]] = {
    "SubmitFunction": (
        {"UploadsBucket", "JobsQueue", "SubmitLogGroup"},
        {"s3:PutObject", "s3:DeleteObject", "sqs:SendMessage", "secretsmanager:GetSecretValue"},
        {"s3:GetObject", "sqs:ReceiveMessage", "sqs:DeleteMessage"},
    ),
    "StatusFunction": (
        {"UploadsBucket", "JobsQueue", "StatusLogGroup"},
        {
            "s3:ListBucket",
            # the annotated photo, drawn once and kept under annotated/ (and only there:
            # test_status_writes_only_drawings)
            "s3:GetObject",
            "s3:PutObject",
            "s3:DeleteObject",
            "sqs:GetQueueAttributes",
            "secretsmanager:GetSecretValue",
        },
        {"sqs:SendMessage"},
    ),
    "PredictFunction": (
        {"UploadsBucket", "JobsQueue", "NotificationsQueue", "PredictLogGroup"},
        {
            "s3:GetObject",
            "s3:ListBucket",  # a photo gone is 404, not 403 (test_who_reads_objects_may_list)
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:SendMessage",  # to the notifications queue only (test_who_sends_where)
            "secretsmanager:GetSecretValue",
            # A direct upload's accepted photo, written once to uploads/ (never overwritten:
            # If-None-Match), and its drop box emptied (test_predict_writes_only_the_accepted_photo)
            "s3:PutObject",
            "s3:DeleteObject",
        },
        set(),
    ),
    "SweepFunction": (
        {"UploadsBucket", "JobsQueue", "NotificationsQueue", "SweepLogGroup"},
        {"s3:GetObject", "s3:ListBucket", "sqs:SendMessage", "secretsmanager:GetSecretValue"},
        {"s3:PutObject", "s3:DeleteObject", "sqs:ReceiveMessage"},
    ),
    "DeadLetterFunction": (
        {"JobsDeadLetterQueue", "NotificationsQueue", "DeadLetterLogGroup"},
        {
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:GetQueueAttributes",
            "sqs:SendMessage",  # to the notifications queue only (test_who_sends_where)
            "secretsmanager:GetSecretValue",
        },
        {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
    ),
    # Outside the VPC, so nothing of the database: its queue and the signing secret only.
    "NotifyFunction": (
        {"NotificationsQueue", "WebhookSecret", "NotifyLogGroup"},
        {
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:GetQueueAttributes",
            "secretsmanager:GetSecretValue",
        },
        {"s3:GetObject", "s3:PutObject", "sqs:SendMessage", "ec2:CreateNetworkInterface"},
    ),
    "MigrateFunction": (
        {"MigrateLogGroup"},
        {"secretsmanager:GetSecretValue"},
        {"s3:GetObject", "s3:PutObject", "sqs:SendMessage", "sqs:ReceiveMessage"},
    ),
}


# The secrets a role may read besides the database logins: the webhooks' signing secret, which
# only the function that signs may read.
WEBHOOK_SECRET_REFS = {"WebhookSecret"}
READABLE_SECRETS = SECRET_REFS | WEBHOOK_SECRET_REFS


def expected_secrets(name: str) -> set[str]:
    if name == MIGRATE_FUNCTION:
        return SECRET_REFS
    if name == "NotifyFunction":
        return WEBHOOK_SECRET_REFS
    return APP_SECRET_REFS


def role_of(function: dict[str, Any]) -> str:
    role = ref_target(function["Properties"]["Role"])
    assert role, "the role must be a resource of this template"
    return role


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        s for p in role["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]
    ]


def test_every_function_is_scoped(functions: dict[str, Any]) -> None:
    assert set(functions) == set(SCOPE)


def test_one_role_per_function(resources: dict[str, Any], functions: dict[str, Any]) -> None:
    roles = [role_of(f) for f in functions.values()]
    assert len(set(roles)) == len(roles)
    for name, function in functions.items():
        role = resources[role_of(function)]
        assert role["Type"] == "AWS::IAM::Role"
        # SAM must not generate a second role or attach broad managed policies
        assert "Policies" not in function["Properties"], name
        assert not role["Properties"].get("ManagedPolicyArns"), name
        (principal,) = [
            s["Principal"]["Service"]
            for s in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        ]
        assert principal == "lambda.amazonaws.com"


@pytest.mark.parametrize("name", sorted(SCOPE))
def test_role_names_only_its_resources(
    name: str, resources: dict[str, Any], functions: dict[str, Any]
) -> None:
    own, needed, forbidden = SCOPE[name]
    role = resources[role_of(functions[name])]
    granted: set[str] = set()
    secrets_read: set[str] = set()
    for statement in statements(role):
        assert statement["Effect"] == "Allow"
        actions = set(as_list(statement["Action"]))
        assert not any(a.endswith("*") for a in actions), f"{name}: wildcard action {actions}"
        granted |= actions
        if statement["Resource"] == "*" or "*" in as_list(statement["Resource"]):
            assert actions <= STAR_ACTIONS, f"{name}: {actions - STAR_ACTIONS} on '*'"
            continue
        named = references(statement["Resource"])
        assert named, f"{name}: a resource that is not one of this stack's: {statement}"
        assert named <= own | READABLE_SECRETS, f"{name}: {named - own - READABLE_SECRETS}"
        if named & READABLE_SECRETS or "secretsmanager:GetSecretValue" in actions:
            assert actions == {"secretsmanager:GetSecretValue"}, f"{name}: {actions}"
            assert named <= READABLE_SECRETS, f"{name}: {named - READABLE_SECRETS}"
            secrets_read |= named
    # Least privilege in the database: only the migration may read the master login; only
    # notify reads the signing secret, and no database login.
    expected = expected_secrets(name)
    assert secrets_read == expected, f"{name} reads {secrets_read}, not {expected}"
    assert needed <= granted, f"{name} lacks {needed - granted}"
    assert not forbidden & granted, f"{name} must not have {forbidden & granted}"


def test_who_sends_where(resources: dict[str, Any], functions: dict[str, Any]) -> None:
    """Jobs come from submit (and the sweep's repair); notifications from the code that ends
    predictions (predict, the dead-letter consumer, the sweep); nobody sends elsewhere."""
    senders: dict[str, set[str]] = {}
    for name, function in functions.items():
        for statement in statements(resources[role_of(function)]):
            if "sqs:SendMessage" in as_list(statement["Action"]):
                for queue in references(statement["Resource"]):
                    senders.setdefault(queue, set()).add(name)
    assert senders == {
        "JobsQueue": {"SubmitFunction", "SweepFunction"},
        "NotificationsQueue": {"PredictFunction", "DeadLetterFunction", "SweepFunction"},
    }


# The prefixes of the bucket: photos (submit's puts, and the clients' direct uploads by
# presigned POST), and the annotated photos drawn from them.
PHOTO_PREFIXES = {
    "uploads/": {"Fn::Sub": "${UploadsBucket.Arn}/uploads/*"},
    "incoming/": {"Fn::Sub": "${UploadsBucket.Arn}/incoming/*"},
    "annotated/": {"Fn::Sub": "${UploadsBucket.Arn}/annotated/*"},
}


def test_object_access_is_limited_to_uploads(resources: dict[str, Any]) -> None:
    for name in SCOPE:
        role = resources[f"{name}Role"]
        for statement in statements(role):
            object_actions = {
                a for a in as_list(statement["Action"]) if a.startswith("s3:") and "Object" in a
            }
            if object_actions:
                named = as_list(statement["Resource"])
                assert named and all(r in PHOTO_PREFIXES.values() for r in named), name


def test_who_reads_objects_may_list_the_bucket(resources: dict[str, Any]) -> None:
    """S3 answers a read of a missing key 403, not 404, to a caller without s3:ListBucket on
    the bucket. Whoever reads photos tells "gone" from "refused" (the sweep's `exists`, the
    worker's and the annotated photo's missing image): s3:ListBucket on the bucket itself,
    never on its objects or on "*"."""
    bucket_arn = {"Fn::GetAtt": ["UploadsBucket", "Arn"]}
    for name in SCOPE:
        role = statements(resources[f"{name}Role"])
        reads = any("s3:GetObject" in as_list(s["Action"]) for s in role)
        listing = [s for s in role if "s3:ListBucket" in as_list(s["Action"])]
        assert listing or not reads, f"{name} reads objects but may not list the bucket"
        for statement in listing:
            assert as_list(statement["Resource"]) == [bucket_arn], name
            assert as_list(statement["Action"]) == ["s3:ListBucket"], name


@pytest.mark.parametrize(
    ("name", "actions"),
    [
        ("SubmitFunction", {"s3:PutObject", "s3:DeleteObject"}),  # signs the POST; deletes
        ("PredictFunction", {"s3:GetObject", "s3:DeleteObject"}),  # takes it, empties the box
        ("SweepFunction", {"s3:GetObject"}),  # is the direct upload there?
    ],
)
def test_direct_uploads_are_reachable_by_who_needs_them(
    name: str, actions: set[str], resources: dict[str, Any]
) -> None:
    granted = {
        action
        for statement in statements(resources[f"{name}Role"])
        if PHOTO_PREFIXES["incoming/"] in as_list(statement["Resource"])
        for action in as_list(statement["Action"])
    }
    assert granted == actions, name


def test_logs_go_to_the_functions_own_log_group(functions: dict[str, Any]) -> None:
    for name, function in functions.items():
        group = ref_target(function["Properties"]["LoggingConfig"]["LogGroup"])
        assert group in SCOPE[name][0]


def test_functions_log_in_as_the_application_role(
    template: dict[str, Any], functions: dict[str, Any]
) -> None:
    """Every runtime function gets the application secret; the migration gets the master
    secret as its login and the application secret to create that role from."""
    for name, function in functions.items():
        env = environment(template, function)
        login = references(env["DATABASE_SECRET_ARN"])
        if name == MIGRATE_FUNCTION:
            assert login == MASTER_SECRET_REFS
            assert references(env["APP_DATABASE_SECRET_ARN"]) == APP_SECRET_REFS
        else:
            assert login == APP_SECRET_REFS, f"{name} logs in with {login}"
            assert "APP_DATABASE_SECRET_ARN" not in env, name


def test_the_application_secret_is_generated(resources: dict[str, Any]) -> None:
    (name,) = APP_SECRET_REFS
    secret = resources[name]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert "Condition" not in secret  # an existing database gets the role too
    generate = secret["Properties"]["GenerateSecretString"]
    assert json.loads(generate["SecretStringTemplate"]) == {"username": "dogdetect_app"}
    assert generate["GenerateStringKey"] == "password"
    assert set("\"'\\@/") <= set(generate["ExcludeCharacters"])
    assert "SecretString" not in secret["Properties"]  # never a password in the template


def test_the_proxy_accepts_both_logins(resources: dict[str, Any]) -> None:
    proxy = resources["DatabaseProxy"]["Properties"]
    assert {ref_target(a["SecretArn"]) for a in proxy["Auth"]} == {"Database", "AppDatabaseSecret"}
    role = resources[ref_target(proxy["RoleArn"]) or ""]
    (statement,) = statements(role)
    assert as_list(statement["Action"]) == ["secretsmanager:GetSecretValue"]
    assert references(statement["Resource"]) == {"Database", "AppDatabaseSecret"}


def object_writes(role: dict[str, Any]) -> dict[str, set[str]]:
    grants: dict[str, set[str]] = {}
    for statement in statements(role):
        for action in as_list(statement["Action"]):
            if action in ("s3:PutObject", "s3:DeleteObject"):
                resources_named = {str(r) for r in as_list(statement["Resource"])}
                grants.setdefault(action, set()).update(resources_named)
    return grants


def test_status_writes_only_drawings(resources: dict[str, Any]) -> None:
    """Status keeps the annotated photos it draws: it may put and delete under annotated/
    and nowhere else (no photo of a client's is its to change)."""
    assert object_writes(resources["StatusFunctionRole"]) == {
        "s3:PutObject": {str(PHOTO_PREFIXES["annotated/"])},
        "s3:DeleteObject": {str(PHOTO_PREFIXES["annotated/"])},
    }


def test_predict_writes_only_the_accepted_photo(resources: dict[str, Any]) -> None:
    """Predict may put only under uploads/ (the accepted photo) and delete only under
    incoming/ (the drop box): it can neither replace a photo a POST reaches nor delete one."""
    assert object_writes(resources["PredictFunctionRole"]) == {
        "s3:PutObject": {str(PHOTO_PREFIXES["uploads/"])},
        "s3:DeleteObject": {str(PHOTO_PREFIXES["incoming/"])},
    }
