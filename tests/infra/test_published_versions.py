"""Published versions follow the code they run. Submit and status are called through the
alias SAM publishes (AutoPublishAlias, for SnapStart), and nearly all their code is in the
core layer: a deploy that changes only the layer must publish new versions, or the API keeps
running (and restoring snapshots of) the old code while every other function runs the new.
SAM's own translator (samtranslator, in the SAM CLI's venv) says which versions a template
makes: the template is translated twice, as `sam package` leaves it, with only one layer's
artifact changed."""

from __future__ import annotations

import copy
import json
import os
import runpy
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import FUNCTION_TYPE, REPO_ROOT, function_property

SAM_PYTHON = REPO_ROOT / ".venv-sam" / "bin" / "python"
TRANSFORM = Path(__file__).with_name("sam_transform.py")
LAYER_TYPE = "AWS::Serverless::LayerVersion"
IMAGE_URI = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/predict:latest"


@pytest.fixture(scope="session")
def sam_python() -> Path:
    """The SAM CLI's venv, made from its lock as `make sam-build` makes it (once)."""
    made = subprocess.run(
        ["make", "-s", ".venv-sam/.installed"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    return SAM_PYTHON


def packaged(template: dict[str, Any], changed_layer: str = "") -> dict[str, Any]:
    """The template as `sam package` uploads it: every artifact an S3 object (the image a
    repository URI); `changed_layer`'s under another key, as when its content changed."""
    packaged = copy.deepcopy(template)
    for name, resource in packaged["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == LAYER_TYPE:
            revision = 2 if name == changed_layer else 1
            properties["ContentUri"] = f"s3://artifacts/{name}-{revision}.zip"
        elif resource["Type"] == FUNCTION_TYPE and properties.get("PackageType") == "Image":
            properties["ImageUri"] = IMAGE_URI
        elif resource["Type"] == FUNCTION_TYPE:
            properties["CodeUri"] = f"s3://artifacts/{name}.zip"
    return packaged


def translate(sam_python: Path, template: dict[str, Any]) -> dict[str, Any]:
    environment = dict(os.environ, AWS_DEFAULT_REGION="eu-west-1")
    result = subprocess.run(
        [str(sam_python), str(TRANSFORM)],
        input=json.dumps(template),
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    translated: dict[str, Any] = json.loads(result.stdout)
    return translated


def versions(translated: dict[str, Any]) -> dict[str, str]:
    """Each function's published version: function logical id -> the version's logical id
    (a new logical id is a new version)."""
    return {
        resource["Properties"]["FunctionName"]["Ref"]: name
        for name, resource in translated["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Version"
    }


@pytest.mark.parametrize("layer", ["CoreLayer", "DepsLayer"])
def test_a_changed_layer_publishes_a_new_version_of_every_aliased_function(
    sam_python: Path, template: dict[str, Any], functions: dict[str, Any], layer: str
) -> None:
    aliased = {
        name
        for name, function in functions.items()
        if function_property(template, function, "AutoPublishAlias")
    }
    assert aliased >= {"SubmitFunction", "StatusFunction"}
    before = versions(translate(sam_python, packaged(template)))
    after = versions(translate(sam_python, packaged(template, changed_layer=layer)))
    assert set(before) == set(after) == aliased
    unchanged = {name for name in aliased if before[name] == after[name]}
    assert unchanged == set(), f"{sorted(unchanged)} keep their old version"


def test_an_unchanged_template_publishes_nothing_new(
    sam_python: Path, template: dict[str, Any]
) -> None:
    """The other side: a deploy that changes nothing of a function keeps its version (and its
    snapshot), so the test above is not passing on versions that change every time."""
    first = versions(translate(sam_python, packaged(template)))
    assert versions(translate(sam_python, packaged(template))) == first


def test_the_cloud_smoke_test_finds_the_core_layer_as_the_stack_names_it(
    sam_python: Path, template: dict[str, Any]
) -> None:
    """scripts/cloud_smoke.py reads the stack's resources by logical id; the transform renames
    every layer version (CoreLayer + a hash), so a lookup of "CoreLayer" finds nothing."""
    translated = translate(sam_python, packaged(template))["Resources"]
    as_listed = {name: {"ResourceType": r["Type"]} for name, r in translated.items()}
    found = runpy.run_path(str(REPO_ROOT / "scripts" / "cloud_smoke.py"))["core_layer"](as_listed)
    assert found != "CoreLayer" and translated[found]["Type"] == "AWS::Lambda::LayerVersion"
    assert found.startswith("CoreLayer")
