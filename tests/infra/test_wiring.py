"""The template against the code: environment names are settings, handlers and routes exist,
the predict image and the make targets are what the template expects."""

from __future__ import annotations

import ast
import importlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from dogdetect.config import Settings
from fastapi.routing import APIRoute

from tests.infra.conftest import REPO_ROOT, environment

SETTINGS_VARS = {name.upper() for name in Settings.model_fields}
DOCKERFILE = REPO_ROOT / "functions" / "predict" / "Dockerfile"
YOLO11N_SHA256 = "0ebbc80d4a7680d14987a577cd21342b65ecfd94632bd9a8da63ae6417644ee1"


def code_dir(function: dict[str, Any]) -> Path:
    props = function["Properties"]
    if props.get("PackageType") == "Image":
        # the image copies functions/predict/app.py (checked below with the Dockerfile)
        return REPO_ROOT / "functions" / "predict"
    return (REPO_ROOT / "infra" / props["CodeUri"]).resolve()


def top_level_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.ImportFrom):
            names |= {alias.asname or alias.name for alias in node.names}
    return names


def entrypoint_of(function: dict[str, Any]) -> str:
    """The core module a function's app.py re-exports: dogdetect.entrypoints.<folder>."""
    return f"dogdetect.entrypoints.{code_dir(function).name}"


def fastapi_routes(module: str) -> set[tuple[str, str]]:
    """The routes a function's app serves and documents (not the page's static files)."""
    app = importlib.import_module(module).app
    return {
        (method, route.path)
        for route in app.routes
        if isinstance(route, APIRoute) and route.include_in_schema
        for method in route.methods
    }


def test_environment_names_are_settings(
    template: dict[str, Any], functions: dict[str, Any]
) -> None:
    for name, function in functions.items():
        for var in environment(template, function):
            assert var in SETTINGS_VARS or var.startswith(("POWERTOOLS_", "YOLO_")), (
                f"{name}: {var} is not a field of dogdetect.config.Settings"
            )


def test_each_function_gets_what_it_reads(
    template: dict[str, Any], functions: dict[str, Any]
) -> None:
    database = {
        "DATABASE_SECRET_ARN",
        "DATABASE_HOST",
        "DATABASE_PORT",
        "DATABASE_NAME",
        "DATABASE_TLS",
        "DATABASE_CA_BUNDLE",
    }
    aws = {"BUCKET_NAME", "QUEUE_URL"}
    announces = {"NOTIFICATIONS_QUEUE_URL"}  # the code that ends predictions
    needs = {
        "SubmitFunction": database
        | aws
        | {
            "MAX_UPLOAD_BYTES",
            "MAX_IMAGE_PIXELS",
            "API_KEYS",
            "ALLOW_HTTP_WEBHOOKS",
            "DOG_CONFIDENCE",  # a request's `confidence`: its floor and default
        },
        "StatusFunction": database | aws | {"API_KEYS"},
        "PredictFunction": database
        | aws
        | announces
        | {"DOG_CONFIDENCE", "MAX_IMAGE_PIXELS", "MAX_RECEIVE_COUNT", "MODEL_PATH"},
        "SweepFunction": database
        | aws
        | announces
        | {"ENQUEUE_GRACE_SECONDS", "STUCK_AFTER_SECONDS"},
        "DeadLetterFunction": database | announces | {"MAX_RECEIVE_COUNT"},
        "NotifyFunction": announces
        | {
            "WEBHOOK_SECRET_ARN",
            "MAX_RECEIVE_COUNT",
            "WEBHOOK_RETRY_DELAYS",
            "ALLOW_HTTP_WEBHOOKS",
        },
        "MigrateFunction": database | {"APP_DATABASE_SECRET_ARN"},
    }
    for name, function in functions.items():
        env = environment(template, function)
        assert needs[name] <= set(env), f"{name} lacks {needs[name] - set(env)}"
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "DogDetect"
        assert env["POWERTOOLS_SERVICE_NAME"] == name.removesuffix("Function").lower()
        # no database URL with credentials in the cloud: the secret is read at start
        assert "DATABASE_URL" not in env


def test_literal_settings_parse(template: dict[str, Any], functions: dict[str, Any]) -> None:
    """Literal values the template sets are valid for the settings model."""
    for function in functions.values():
        literal = {
            k.lower(): v
            for k, v in environment(template, function).items()
            if k in SETTINGS_VARS and isinstance(v, (str, int, float))
        }
        Settings(**literal)


def test_handlers_exist(functions: dict[str, Any]) -> None:
    for name, function in functions.items():
        handler = function["Properties"].get("Handler", "app.handler")
        module, attribute = handler.rsplit(".", 1)
        source = code_dir(function) / f"{module}.py"
        assert source.is_file(), f"{name}: {source} is missing"
        assert attribute in top_level_names(source), f"{name}: {source} defines no {attribute}"
        # app.py only re-exports the entrypoint's handler, the one the tests and make local run
        assert f"from {entrypoint_of(function)} import {attribute}" in source.read_text(), name


def test_routes_are_served_by_the_apps(functions: dict[str, Any]) -> None:
    for name, function in functions.items():
        events = [
            e["Properties"]
            for e in function["Properties"].get("Events", {}).values()
            if e["Type"] == "HttpApi"
        ]
        # $default forwards unknown paths to the app, which answers them with its JSON 404.
        declared = {(e["Method"].upper(), e["Path"]) for e in events if e["Path"] != "$default"}
        if declared:
            assert declared == fastapi_routes(entrypoint_of(function)), name


# ------------------------------------------------------------------ the predict image


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def dockerfile_stages() -> dict[str, list[tuple[str, str]]]:
    """The instructions of each stage (`FROM image AS name`), in order; the last is the image."""
    stages: dict[str, list[tuple[str, str]]] = {}
    for op, arg in dockerfile_instructions():
        if op == "FROM":
            name = arg.split()[-1] if " as " in f" {arg.lower()} " else str(len(stages))
            stages[name] = []
        stages[list(stages)[-1]].append((op, arg))
    return stages


def context_copies() -> list[str]:
    """The arguments of the COPY instructions that take from the build context."""
    return [arg for op, arg in dockerfile_instructions() if op == "COPY" and "--from=" not in arg]


def test_predict_image() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0][1].startswith("public.ecr.aws/lambda/python:3.13 ")
    runs = " ".join(arg for op, arg in instructions if op == "RUN")
    assert re.search(
        r"--index-url https://download.pytorch.org/whl/cpu\S* .*torch torchvision", runs
    )
    assert "-r /tmp/build/functions/predict/requirements.txt" in runs
    args_and_envs = " ".join(arg for op, arg in instructions if op in {"ARG", "ENV"})
    assert YOLO11N_SHA256 in args_and_envs
    assert "github.com/ultralytics/assets/releases/download/" in args_and_envs
    assert "sha256" in runs
    for expected in ("YOLO_CONFIG_DIR=/tmp", "YOLO_OFFLINE=1", "YOLO_AUTOINSTALL=false"):
        assert expected in args_and_envs
    model_path = re.search(r"MODEL_PATH=(\S+)", args_and_envs)
    assert model_path and model_path.group(1).startswith("/opt/models/")
    copies = [arg for op, arg in instructions if op == "COPY"]
    assert "layers/core/dogdetect ${LAMBDA_TASK_ROOT}/dogdetect" in copies
    assert "functions/predict/app.py ${LAMBDA_TASK_ROOT}/app.py" in copies
    # the export stage's inputs keep their relative layout, so `-r ../../layers/deps/...` resolves
    assert any(c.endswith(" /tmp/build/layers/deps/requirements.in") for c in copies)
    assert instructions[-1] == ("CMD", '["app.handler"]')


def test_predict_image_matches_the_template(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    args_and_envs = " ".join(arg for op, arg in dockerfile_instructions() if op == "ENV")
    env = environment(template, resources["PredictFunction"])
    assert f"MODEL_PATH={env['MODEL_PATH']}" in args_and_envs


def test_copied_sources_exist() -> None:
    for arg in context_copies():
        source = arg.split()[0]
        assert (REPO_ROOT / source).exists(), source
    predict_requirements = (REPO_ROOT / "functions/predict/requirements.in").read_text()
    assert "-r ../../layers/deps/requirements.in" in predict_requirements


def test_docker_context_is_trimmed() -> None:
    ignored = {
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".local", "tests", ".git"} <= ignored
    # but nothing the Dockerfile copies
    for arg in context_copies():
        top = arg.split()[0].split("/")[0]
        assert top not in ignored, top


# ------------------------------------------------------------------ make targets


def test_make_targets_are_documented() -> None:
    text = (REPO_ROOT / "infra" / "infra.mk").read_text()
    for target in ("build", "deploy", "deploy-local", "destroy"):
        assert re.search(rf"^{re.escape(target)}:.*## \S", text, re.MULTILINE), target


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_missing_sam_cli_is_explained(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        ["make", "--no-print-directory", "build", f"SAM={tmp_path}/sam"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "pip install aws-sam-cli aws-sam-cli-local" in result.stderr
