"""The cloud smoke test: deploy a stack of its own, run the seed's flow on it, deploy again
with only the core layer changed, check every aliased function serves the new layer, run the
flow again, and tear everything down (also on failure or Ctrl-C).

    make smoke-cloud AWS_REGION=eu-west-1   # under an hour, under $1 of the stack's hourly cost
    .venv/bin/python scripts/cloud_smoke.py flow --api https://...   # the flow alone

What it proves that no test here can (docs/deploy.md, "Proving a deploy"): the first deploy
completes (the proxy waits on no role that does not exist yet), direct uploads work outside
us-east-1 (the presigned POST's regional URL), and a second deploy serves new code.

Needs: AWS credentials (the environment or a profile), Docker (the predict image), the SAM
CLI (`make build` installs it in .venv-sam). Run with .venv's python: boto3 and the client."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dogdetect_client import ApiError, Client, Result

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "images"
BUILT_CORE_LAYER = REPO / "infra" / ".aws-sam" / "build" / "CoreLayer" / "python" / "dogdetect"
LOG_GROUP = "AWS::Logs::LogGroup"
DEPLOY_OPTIONS = (
    "--capabilities", "CAPABILITY_IAM", "--resolve-s3", "--resolve-image-repos",
    "--no-confirm-changeset", "--no-fail-on-empty-changeset",
)  # fmt: skip


class SmokeFailed(AssertionError):
    pass


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SmokeFailed(what)
    print(f"  ok: {what}", flush=True)


# --- the seed's flow, on any deployment ----------------------------------------------------


def seed_flow(api: str, photos: Path, api_key: str | None = None) -> None:
    """Health; dog.jpg DONE with a dog, horses.jpg DONE without, both through the API; dog.jpg
    again straight to the bucket (the presigned POST); its drawing; its deletion."""
    client = Client(api, api_key)
    healthy, body = client.health()
    check(healthy, f"GET /health is 200: {body}")
    dog = client.predict(photos / "dog.jpg", timeout=180)
    check(dog.status == "DONE" and dog.has_dog is True, f"dog.jpg: DONE with a dog {said(dog)}")
    horses = client.predict(photos / "horses.jpg", timeout=180)
    check(horses.status == "DONE" and horses.has_dog is False, f"horses.jpg: no dog {said(horses)}")
    direct = Client(api, api_key, direct_limit=0).predict(photos / "dog.jpg", timeout=180)
    check(direct.status == "DONE" and direct.has_dog is True, f"direct upload: dog {said(direct)}")
    prediction = str(dog.image_prediction_id)
    drawing = client.annotated(prediction)
    check(drawing.startswith(b"\xff\xd8"), "the annotated photo is a JPEG")
    client.delete(prediction)
    try:
        client.get(prediction)
        status = 200
    except ApiError as gone:
        status = gone.status or 0
    check(status == 404, f"the deleted prediction answers 404 ({status})")


def said(result: Result) -> str:
    return f"({result.status}, has_dog={result.has_dog}, error={result.error})"


# --- deploy, check, tear down -------------------------------------------------------------


def run(argv: list[str], cwd: Path = REPO) -> None:
    print(f"$ {' '.join(argv)}", flush=True)
    subprocess.run(argv, cwd=cwd, check=True)  # noqa: S603 - our own commands


def deploy(sam: str, stack: str, region: str) -> float:
    started = time.monotonic()
    version = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    run(
        [sam, "deploy", "--stack-name", stack, "--region", region, *DEPLOY_OPTIONS,
         "--parameter-overrides", f"MigrationsVersion={version}"],
        cwd=REPO / "infra",
    )  # fmt: skip
    return time.monotonic() - started


def stack_resources(cloudformation: Any, stack: str) -> dict[str, dict[str, str]]:
    pages = cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack)
    return {r["LogicalResourceId"]: r for page in pages for r in page["StackResourceSummaries"]}


def output(cloudformation: Any, stack: str, name: str) -> str:
    outputs = cloudformation.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    return str(next(o["OutputValue"] for o in outputs if o["OutputKey"] == name))


def check_aliases_serve_the_layer(session: Any, stack: str) -> None:
    """Every function alias points at a version built with the stack's current CoreLayer."""
    resources = stack_resources(session.client("cloudformation"), stack)
    layer = resources[core_layer(resources)]["PhysicalResourceId"]  # the layer version's ARN
    functions = session.client("lambda")
    aliases = [r for r in resources.values() if r["ResourceType"] == "AWS::Lambda::Alias"]
    check(bool(aliases), f"{len(aliases)} function aliases")
    for alias in aliases:
        arn = alias["PhysicalResourceId"]  # arn:...:function:<name>:<alias>
        name, alias_name = arn.split(":")[6], arn.split(":")[7]
        version = functions.get_alias(FunctionName=name, Name=alias_name)["FunctionVersion"]
        config = functions.get_function_configuration(FunctionName=name, Qualifier=version)
        layers = [item["Arn"] for item in config.get("Layers", [])]
        check(layer in layers, f"{name}:{alias_name} (version {version}) runs {layer}")


def core_layer(resources: Mapping[str, Mapping[str, str]]) -> str:
    """The logical id CoreLayer gets in the stack: SAM's transform names a layer version after
    the template's id and a hash of its content (CoreLayer3f2a...), never the id itself."""
    (found,) = [
        name
        for name, resource in resources.items()
        if resource["ResourceType"] == "AWS::Lambda::LayerVersion" and name.startswith("CoreLayer")
    ]
    return found


def change_the_core_layer_only() -> None:
    """A file in the built layer and nowhere else: the next deploy publishes a new layer
    version and nothing else of the functions changes."""
    marker = BUILT_CORE_LAYER / "smoke-marker.txt"
    marker.write_text(f"smoke {time.time()}\n")
    print(f"changed the built core layer only: {marker}", flush=True)


@contextmanager
def torn_down(session: Any, sam: str, stack: str, region: str, keep: bool) -> Iterator[None]:
    passed = False
    try:
        yield
        passed = True
    finally:
        if keep:
            print(f"kept: stack {stack} in {region} (--keep); `sam delete` it when done")
        else:
            tear_down(session, sam, stack, region, keep_logs=not passed)


def tear_down(session: Any, sam: str, stack: str, region: str, keep_logs: bool) -> None:
    """sam delete, then what the stack keeps on purpose: the uploads bucket, the final
    database snapshot, and the log groups unless the smoke test failed (they say why;
    docs/deploy.md, Teardown)."""
    kept: dict[str, dict[str, str]] = {}
    try:
        kept = stack_resources(session.client("cloudformation"), stack)
    except Exception as exc:  # a stack never created has nothing to keep
        print(f"no stack resources to look up: {exc}")
    run([sam, "delete", "--stack-name", stack, "--region", region, "--no-prompts"])
    if bucket := kept.get("UploadsBucket", {}).get("PhysicalResourceId"):
        objects = session.resource("s3").Bucket(bucket)
        objects.object_versions.delete()
        objects.delete()
        print(f"deleted the kept bucket {bucket}")
    if database := kept.get("Database", {}).get("PhysicalResourceId"):
        rds = session.client("rds")
        snapshots = rds.describe_db_snapshots(DBInstanceIdentifier=database)["DBSnapshots"]
        for snapshot in snapshots:
            rds.delete_db_snapshot(DBSnapshotIdentifier=snapshot["DBSnapshotIdentifier"])
            print(f"deleted the final snapshot {snapshot['DBSnapshotIdentifier']}")
    groups = [r["PhysicalResourceId"] for r in kept.values() if r["ResourceType"] == LOG_GROUP]
    for group in groups:
        if keep_logs:
            print(f"kept the log group {group}: delete it once read")
        else:
            session.client("logs").delete_log_group(logGroupName=group)
            print(f"deleted the log group {group}")


def smoke(arguments: argparse.Namespace) -> None:
    import boto3  # here: the flow alone needs only the client

    session = boto3.session.Session(region_name=arguments.region)
    identity = session.client("sts").get_caller_identity()
    stack = arguments.stack or f"dogdetect-smoke-{time.strftime('%Y%m%d%H%M%S')}"
    print(f"account {identity['Account']}, region {arguments.region}, stack {stack}")
    run(["make", "build"])
    with torn_down(session, arguments.sam, stack, arguments.region, arguments.keep):
        first = deploy(arguments.sam, stack, arguments.region)
        print(f"first deploy: {first / 60:.1f} min", flush=True)
        api = output(session.client("cloudformation"), stack, "ApiUrl")
        seed_flow(api, arguments.photos)
        check_aliases_serve_the_layer(session, stack)
        change_the_core_layer_only()
        second = deploy(arguments.sam, stack, arguments.region)
        print(f"second deploy: {second / 60:.1f} min", flush=True)
        check_aliases_serve_the_layer(session, stack)
        seed_flow(api, arguments.photos)
    print("smoke test passed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    cloud = commands.add_parser("cloud", help="deploy, run the flow, deploy again, tear down")
    cloud.add_argument("--region", default=os.environ.get("AWS_REGION") or "eu-west-1")
    cloud.add_argument("--stack", help="stack name (default: dogdetect-smoke-<time>)")
    cloud.add_argument("--sam", default=str(REPO / ".venv-sam" / "bin" / "sam"))
    cloud.add_argument("--keep", action="store_true", help="leave the stack deployed")
    flow = commands.add_parser("flow", help="the seed's flow alone, on a running API")
    flow.add_argument("--api", required=True, help="the API's base URL")
    flow.add_argument("--api-key", default=os.environ.get("DOGDETECT_API_KEY"))
    for command in (cloud, flow):
        command.add_argument("--photos", type=Path, default=PHOTOS, help="dog.jpg, horses.jpg")
    arguments = parser.parse_args()
    try:
        if arguments.command == "flow":
            seed_flow(arguments.api, arguments.photos, arguments.api_key)
        else:
            smoke(arguments)
    except SmokeFailed as failure:
        sys.exit(f"smoke test FAILED: {failure}")


if __name__ == "__main__":
    main()
