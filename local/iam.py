"""Per-function IAM on the local AWS endpoint: each function gets an IAM user of its own whose
policy is its role's policy in infra/template.yaml, resolved against the local bucket and
queues. moto enforces it (INITIAL_NO_AUTH_ACTION_COUNT=0, local/aws_server.py), so a call
the cloud would refuse is refused here too."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dogdetect.adapters.aws import aws_client

from local.intrinsics import Resolver
from local.template import document, functions

PARTITION = "aws"
STACK_NAME = "dogdetect-local"
# The shape of CloudFormation's: arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>
STACK_ID = (
    "arn:aws:cloudformation:{region}:{account}:stack/"
    + STACK_NAME
    + "/00000000-0000-4000-8000-000000000000"
)


@dataclass(frozen=True)
class LocalNames:
    """What the template's logical ids are on the local endpoint."""

    region: str
    account: str
    bucket: str
    queue_urls: Mapping[str, str]  # logical id of each AWS::SQS::Queue -> its URL

    def queue_arn(self, logical_id: str) -> str:
        name = self.queue_urls[logical_id].rsplit("/", 1)[-1]
        return f"arn:aws:sqs:{self.region}:{self.account}:{name}"


def resolver(names: LocalNames, template: dict[str, Any] | None = None) -> Resolver:
    template = template or document()
    types = {k: v["Type"] for k, v in template["Resources"].items()}
    defaults = {name: p.get("Default") for name, p in template.get("Parameters", {}).items()}
    pseudo = {
        "AWS::Region": names.region,
        "AWS::AccountId": names.account,
        "AWS::Partition": PARTITION,
        "AWS::StackName": STACK_NAME,
        "AWS::StackId": STACK_ID.format(region=names.region, account=names.account),
        "AWS::URLSuffix": "amazonaws.com",
    }

    def ref(name: str) -> Any:
        if name in pseudo:
            return pseudo[name]
        if name in defaults:
            return defaults[name]
        kind = types[name]
        if kind == "AWS::S3::Bucket":
            return names.bucket
        if kind == "AWS::SQS::Queue":
            return names.queue_urls[name]
        if kind == "AWS::SecretsManager::Secret":
            return f"arn:aws:secretsmanager:{names.region}:{names.account}:secret:{name}"
        return name

    def get_att(name: str, attribute: str) -> Any:
        kind = types[name]
        if kind == "AWS::S3::Bucket" and attribute == "Arn":
            return f"arn:aws:s3:::{names.bucket}"
        if kind == "AWS::SQS::Queue" and attribute == "Arn":
            return names.queue_arn(name)
        if kind == "AWS::Logs::LogGroup" and attribute == "Arn":
            return f"arn:aws:logs:{names.region}:{names.account}:log-group:{name}:*"
        # Anything else (the RDS secret, the proxy) exists in the cloud only: a name no
        # local resource has, so a statement naming it grants nothing here.
        return f"arn:aws:local:{names.region}:{names.account}:{name}/{attribute}"

    return Resolver(ref, get_att, template.get("Conditions", {}))


# Where moto checks a permission under another name than AWS's: AWS authorizes the batch
# calls with their single-message permission, HeadObject with s3:GetObject, and HeadBucket and
# ListObjects(V2) with s3:ListBucket; moto asks for sqs:*Batch and the S3 operation's own name
# (s3:HeadBucket always; s3:HeadObject and s3:ListObjects* since 5.2.6, whose authorization
# reads the routed operation's name instead of S3's action table: docs/decisions.md). The
# same grant, spelled as moto spells it: no permission is widened.
MOTO_SPELLINGS = {
    "sqs:SendMessage": ("sqs:SendMessageBatch",),
    "sqs:DeleteMessage": ("sqs:DeleteMessageBatch",),
    "sqs:ChangeMessageVisibility": ("sqs:ChangeMessageVisibilityBatch",),
    "s3:GetObject": ("s3:HeadObject",),
    "s3:ListBucket": ("s3:HeadBucket", "s3:ListObjects", "s3:ListObjectsV2"),
}


def role_policy(
    role_logical_id: str, names: LocalNames, template: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The role's inline policies merged into one document, resolved for the local stack."""
    template = template or document()
    role = template["Resources"][role_logical_id]["Properties"]
    resolve = resolver(names, template)
    statements = []
    for policy in role.get("Policies", []):
        statements += [_as_moto_spells(s) for s in resolve(policy["PolicyDocument"])["Statement"]]
    return {"Version": "2012-10-17", "Statement": statements}


def _as_moto_spells(statement: dict[str, Any]) -> dict[str, Any]:
    actions = (
        statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    )
    spelled = [a for action in actions for a in (action, *MOTO_SPELLINGS.get(action, ()))]
    return {**statement, "Action": spelled}


@dataclass(frozen=True)
class FunctionIdentity:
    user: str
    policy: dict[str, Any]
    credentials: dict[str, str]  # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY


def function_identities(iam: Any, names: LocalNames) -> dict[str, FunctionIdentity]:
    """An IAM user with its role's policy for every function, by function name."""
    found = {}
    for name, spec in functions().items():
        if spec.role is None:
            continue
        user = f"function-{name}"
        policy = role_policy(spec.role, names)
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName=user, PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        credentials = {
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        }
        found[name] = FunctionIdentity(user, policy, credentials)
    return found


def iam_client(endpoint: str, region: str) -> Any:
    return aws_client("iam", endpoint, region)
