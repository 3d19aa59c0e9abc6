"""The predict image's two stages: `export` (torch, ultralytics: the model and its compiled
cache) and `runtime` (what Lambda runs: functions/predict/requirements.txt only, the model and
the cache copied from `export`, the settings that pick the OpenVINO engine). What the runtime
stage installs is checked without Docker by `make predict-runtime-check`."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from dogdetect.config import Settings

from tests.infra.conftest import REPO_ROOT, environment
from tests.infra.test_wiring import dockerfile_stages

PREDICT = REPO_ROOT / "functions" / "predict"
RUNTIME_REQUIREMENTS = PREDICT / "requirements.txt"  # the lock of requirements.in
RUNTIME_INPUT = PREDICT / "requirements.in"
EXPORT_REQUIREMENTS = PREDICT / "requirements-export.in"
BASE_IMAGE = "public.ecr.aws/lambda/python:3.13"
HEAVY = ("torch", "torchvision", "ultralytics")
# Where the Dockerfile's COPY lines put the requirements (their layout kept under it).
BUILD = "/tmp/build"
ENGINE_SETTINGS = ("DETECTOR_ENGINE", "OPENVINO_CACHE_DIR", "MODEL_PATH")


def requirement_names(requirements: Path) -> set[str]:
    """Distribution names a requirements file asks for, through its -r includes."""
    names = set()
    for raw in requirements.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r "):
            names |= requirement_names((requirements.parent / line.split(None, 1)[1]).resolve())
        elif line and not line.startswith("-"):
            names.add(re.split(r"[\s\[<>=!~;@]", line, maxsplit=1)[0].lower())
    return names


def pinned(requirements: Path) -> dict[str, str]:
    found = re.findall(r"^([\w.-]+)==(\S+)", requirements.read_text(), re.MULTILINE)
    return {name.lower(): version for name, version in found}


def shell_commands(stage: list[tuple[str, str]]) -> list[list[str]]:
    """Each command of the stage's RUN lines (split at &&), as argv."""
    return [
        shlex.split(command) for op, arg in stage if op == "RUN" for command in arg.split(" && ")
    ]


def pip_installs(stage: list[tuple[str, str]]) -> list[list[str]]:
    return [argv[2:] for argv in shell_commands(stage) if argv[:2] == ["pip", "install"]]


def env(stage: list[tuple[str, str]]) -> dict[str, str]:
    pairs = [pair for op, arg in stage if op == "ENV" for pair in arg.split()]
    return dict(pair.split("=", 1) for pair in pairs)


@pytest.fixture(scope="module")
def stages() -> dict[str, list[tuple[str, str]]]:
    return dockerfile_stages()


@pytest.fixture(scope="module")
def runtime(stages: dict[str, list[tuple[str, str]]]) -> list[tuple[str, str]]:
    return stages["runtime"]


def test_two_stages_from_the_lambda_image_and_lambda_runs_the_runtime_one(
    stages: dict[str, list[tuple[str, str]]], resources: dict[str, Any]
) -> None:
    assert list(stages) == ["export", "runtime"]
    for name, stage in stages.items():
        assert stage[0] == ("FROM", f"{BASE_IMAGE} AS {name}")
    # sam build builds the last stage unless the template names another
    target = resources["PredictFunction"]["Metadata"].get("DockerBuildTarget", "runtime")
    assert target == "runtime"


def test_the_runtime_requirements_name_no_torch_and_the_export_ones_add_it() -> None:
    runtime_names = requirement_names(RUNTIME_INPUT)
    assert {"openvino", "numpy", "opencv-python-headless"} <= runtime_names
    assert not requirement_names(RUNTIME_REQUIREMENTS) & set(HEAVY)
    export_names = requirement_names(EXPORT_REQUIREMENTS)
    assert runtime_names | set(HEAVY) <= export_names
    # the dev venv has both, torch at the pair constraints.txt pins
    assert (
        "-r functions/predict/requirements-export.in"
        in (REPO_ROOT / "requirements-dev.in").read_text().splitlines()
    )
    export_pins = pinned(EXPORT_REQUIREMENTS)
    for name, version in pinned(REPO_ROOT / "constraints.txt").items():
        assert export_pins[name] == version, name


def test_the_runtime_stage_installs_only_the_runtime_requirements(
    runtime: list[tuple[str, str]],
) -> None:
    requirements = f"{BUILD}/{RUNTIME_REQUIREMENTS.relative_to(REPO_ROOT)}"
    assert pip_installs(runtime) == [["-r", requirements]]
    copied = [arg.split()[-1] for op, arg in runtime if op == "COPY" and "--from=" not in arg]
    assert requirements in copied
    assert not [path for path in copied if path.endswith("requirements-export.in")]
    # a lock: pip in hash-checking mode installs nothing it does not name
    assert "--hash=sha256:" in RUNTIME_REQUIREMENTS.read_text()


def test_the_export_stage_installs_cpu_torch_then_the_export_requirements(
    stages: dict[str, list[tuple[str, str]]],
) -> None:
    installs = pip_installs(stages["export"])
    index = "https://download.pytorch.org/whl/cpu"
    assert any(
        argv[:2] == ["--index-url", index] and argv[-2:] == ["torch", "torchvision"]
        for argv in installs
    )
    assert any(f"{BUILD}/{EXPORT_REQUIREMENTS.relative_to(REPO_ROOT)}" in argv for argv in installs)


def test_the_runtime_stage_is_trimmed_with_the_script_the_check_uses(
    runtime: list[tuple[str, str]],
) -> None:
    trims = [argv for argv in shell_commands(runtime) if argv[1:2] == [f"{BUILD}/trim_runtime.py"]]
    assert len(trims) == 1
    assert ("COPY", f"functions/predict/trim_runtime.py {BUILD}/trim_runtime.py") in runtime
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^test-cloud-build:.*\bpredict-runtime-check\b", makefile, re.MULTILINE)
    assert (
        'TRIM = FUNCTION / "trim_runtime.py"'
        in (REPO_ROOT / "scripts" / "predict_runtime.py").read_text()
    )


def test_the_runtime_stage_copies_the_model_and_the_cache_from_the_export_stage(
    stages: dict[str, list[tuple[str, str]]], runtime: list[tuple[str, str]]
) -> None:
    copied = {
        tuple(arg.split()[1:])
        for op, arg in runtime
        if op == "COPY" and arg.startswith("--from=export ")
    }
    settings = env(runtime)
    model, cache = settings["MODEL_PATH"], settings["OPENVINO_CACHE_DIR"]
    assert copied == {(model, model), (cache, cache)}
    # the export stage makes both: ultralytics exports yolo11n.pt to yolo11n_openvino_model/,
    # then build_model_cache.py compiles that model into the cache
    export = shell_commands(stages["export"])
    assert any(
        "yolo11n.pt" in " ".join(argv) and "format='openvino'" in " ".join(argv) for argv in export
    )
    assert model.endswith("/yolo11n_openvino_model")
    builds = [argv for argv in export if f"{BUILD}/build_model_cache.py" in argv]
    assert [argv[-4:] for argv in builds] == [["python", builds[0][-3], model, cache]]


def test_the_runtime_settings_pick_the_openvino_engine(
    runtime: list[tuple[str, str]], template: dict[str, Any], resources: dict[str, Any]
) -> None:
    settings = env(runtime)
    assert set(ENGINE_SETTINGS) <= set(settings)
    for name in ENGINE_SETTINGS:
        assert name.lower() in Settings.model_fields, name
    parsed = Settings(**{name.lower(): settings[name] for name in ENGINE_SETTINGS})
    assert parsed.detector_engine == "openvino"
    assert parsed.openvino_cache_dir == "/opt/models/openvino-cache"
    # the template's environment wins over the image's: where it names one, it must agree
    function_env = environment(template, resources["PredictFunction"])
    for name in ENGINE_SETTINGS:
        if name in function_env:
            assert function_env[name] == settings[name], name


def test_the_runtime_stage_ends_by_proving_it_has_no_torch(
    runtime: list[tuple[str, str]],
) -> None:
    last_run = [arg for op, arg in runtime if op == "RUN"][-1]
    argv = shlex.split(last_run)
    code = argv[argv.index("-c") + 1]
    compile(code, "Dockerfile", "exec")  # the one-line program is valid Python
    for name in HEAVY:
        assert f"'{name}'" in code
    assert "import app" in code and "find_spec" in code and "sys.modules" in code
    assert runtime[-1] == ("CMD", '["app.handler"]')
