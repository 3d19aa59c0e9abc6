"""Build the Lambda zip artifacts of infra/template.yaml with `sam build`, and check them.

    python scripts/sam_zip.py build --sam .venv-sam/bin/sam --python313 /path/to/python3.13
    python scripts/sam_zip.py check --python313 /path/to/python3.13

`build` builds every zip function (an AWS::Serverless::Function with a CodeUri) and every
AWS::Serverless::LayerVersion; the list comes from the template, so a new function is built
without a change here. Image functions (PackageType: Image) need Docker: they are excluded.

`check` verifies what Lambda will load: each artifact is where the built template says,
each function has its handler's module, each layer has its source packages under python/
and a distribution for each of its requirements, every compiled module is for CPython 3.13
on x86_64 (manylinux, within Amazon Linux 2023's glibc), each function with its layers fits
Lambda's unzipped size limit, and each handler module imports on Python 3.13 with nothing
but its function folder and layers on sys.path (as /var/task and /opt/python). It prints
each artifact's size.

Run with the SAM CLI's venv python (.venv-sam): it has PyYAML.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from subprocess import PIPE, Popen
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "infra" / "template.yaml"
# Outside the committed tree (git-ignored); `make build` uses infra/.aws-sam.
WORK_DIR = REPO / ".aws-sam-test"
BUILD_DIR = WORK_DIR / "build"

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
SERVERLESS_LAYER = "AWS::Serverless::LayerVersion"
# Everything `sam build` builds (sam build --help, "Supported Resource Types").
SAM_BUILDABLE = {
    SERVERLESS_FUNCTION,
    SERVERLESS_LAYER,
    "AWS::Lambda::Function",
    "AWS::Lambda::LayerVersion",
}
# Lambda's limit for a function and all its layers, unzipped.
UNZIPPED_LIMIT_BYTES = 262_144_000
# The python3.13 runtime runs on Amazon Linux 2023 (glibc 2.34): a manylinux_2_X wheel
# with X above that does not load there.
RUNTIME_GLIBC = (2, 34)
# Old manylinux names and the glibc they stand for (PEP 600).
LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
EXTENSION_SUFFIX = "cpython-313-x86_64-linux-gnu.so"


class _CloudFormationLoader(yaml.SafeLoader):  # type: ignore[misc]  # no stubs
    """Reads !Ref, !GetAtt, !Sub and friends as plain values (`!Ref CoreLayer` -> "CoreLayer")."""


def _tag(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


_CloudFormationLoader.add_multi_constructor("!", _tag)


def load_template(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(path.read_text(), Loader=_CloudFormationLoader)  # noqa: S506  # a SafeLoader subclass
    return loaded


@dataclass(frozen=True)
class Artifact:
    """One zip artifact of the template: a function or a layer."""

    logical_id: str
    kind: str  # "function" or "layer"
    source: Path  # CodeUri / ContentUri, resolved against the template's folder
    handler: str = ""  # functions only: "app.handler"
    layers: tuple[str, ...] = ()  # functions only: logical ids of its layers, in order


def _function_property(template: dict[str, Any], resource: dict[str, Any], name: str) -> Any:
    """A property of a serverless function, or its value under Globals.Function."""
    properties = resource.get("Properties") or {}
    if name in properties:
        return properties[name]
    return ((template.get("Globals") or {}).get("Function") or {}).get(name)


def zip_artifacts(template_path: Path = TEMPLATE) -> list[Artifact]:
    """Every zip function with a CodeUri and every serverless layer, in template order."""
    template = load_template(template_path)
    base = template_path.parent
    found = []
    for logical_id, resource in template["Resources"].items():
        kind = resource.get("Type")
        if kind == SERVERLESS_FUNCTION:
            code_uri = _function_property(template, resource, "CodeUri")
            package_type = _function_property(template, resource, "PackageType") or "Zip"
            if package_type != "Zip" or not isinstance(code_uri, str):
                continue  # an image, inline code, or code already in S3: nothing to build
            layers = _function_property(template, resource, "Layers") or []
            found.append(
                Artifact(
                    logical_id,
                    "function",
                    (base / code_uri).resolve(),
                    handler=str(_function_property(template, resource, "Handler")),
                    layers=tuple(str(layer) for layer in layers),
                )
            )
        elif kind == SERVERLESS_LAYER:
            content_uri = resource["Properties"]["ContentUri"]
            found.append(Artifact(logical_id, "layer", (base / content_uri).resolve()))
    return found


def excluded_from_build(template_path: Path = TEMPLATE) -> list[str]:
    """What `sam build` would build but is not a zip artifact (the predict image)."""
    resources = load_template(template_path)["Resources"]
    wanted = {artifact.logical_id for artifact in zip_artifacts(template_path)}
    return [
        logical_id
        for logical_id, resource in resources.items()
        if resource.get("Type") in SAM_BUILDABLE and logical_id not in wanted
    ]


# ------------------------------------------------------------------------------- build


def build(sam: str, python313: str) -> int:
    artifacts = zip_artifacts()
    excluded = excluded_from_build()
    print("sam build (zip artifacts):", " ".join(a.logical_id for a in artifacts))
    print("not built (need Docker):", " ".join(excluded) or "nothing")
    WORK_DIR.mkdir(exist_ok=True)
    # An empty config file of our own: infra/samconfig.toml (a developer's deploy settings,
    # e.g. use_container) must not change this build.
    config = WORK_DIR / "samconfig.toml"
    config.write_text("")
    # sam runs in WORK_DIR: a relative path given here is made absolute first.
    sam = os.path.abspath(sam) if os.sep in sam else sam
    command = [sam, "build", "--template-file", str(TEMPLATE), "--config-file", str(config)]
    command += ["--build-dir", str(BUILD_DIR), "--cache-dir", str(WORK_DIR / "cache")]
    # --cached: the dependencies are installed again only when a requirements file changes
    # (kept in WORK_DIR/.aws-sam/deps, relative to the working directory).
    command += ["--parallel", "--cached"]
    for logical_id in excluded:
        command += ["--exclude", logical_id]
    environment = dict(os.environ, SAM_CLI_TELEMETRY="0")
    # SAM's python3.13 builder runs the `python3.13` it finds first on PATH.
    environment["PATH"] = (
        f"{Path(python313).absolute().parent}{os.pathsep}{environment.get('PATH', '')}"
    )
    # argv of our own: the pinned SAM CLI and paths of this repository.
    return subprocess.run(command, cwd=WORK_DIR, env=environment, check=False).returncode  # noqa: S603


# ------------------------------------------------------------------------------- check


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def _files(folder: Path) -> set[Path]:
    return {
        f.relative_to(folder)
        for f in folder.rglob("*")
        if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc"
    }


def _requirement_names(requirements: Path) -> Iterator[str]:
    """Distribution names in a requirements file (its -r includes too)."""
    for raw in requirements.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith(("-r ", "--requirement ")):
            yield from _requirement_names((requirements.parent / line.split(None, 1)[1]).resolve())
        elif line and not line.startswith("-"):
            yield _canonical(re.split(r"[\s\[<>=!~;@]", line, maxsplit=1)[0])


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed(site: Path) -> set[str]:
    return {_canonical(d.name.split("-")[0]) for d in site.glob("*.dist-info")}


def _wheel_problems(site: Path) -> Iterator[str]:
    """Wheels that Lambda's python3.13 on x86_64 (Amazon Linux 2023) cannot load."""
    for wheel in sorted(site.glob("*.dist-info/WHEEL")):
        for line in wheel.read_text().splitlines():
            if not line.startswith("Tag:"):
                continue
            python_tag, abi_tag, platform_tag = line.split(":", 1)[1].strip().split("-")
            if platform_tag == "any":
                continue
            where = wheel.parent.name
            if python_tag != "cp313" and abi_tag != "abi3":
                yield f"{where}: built for {python_tag}-{abi_tag}, not CPython 3.13"
            if not platform_tag.endswith("_x86_64"):
                yield f"{where}: built for {platform_tag}, not x86_64"
            legacy = LEGACY_MANYLINUX.get(platform_tag.removesuffix("_x86_64"))
            modern = re.fullmatch(r"manylinux_(\d+)_(\d+)_x86_64", platform_tag)
            glibc = legacy or (modern and (int(modern[1]), int(modern[2])))
            if not glibc:
                yield f"{where}: platform {platform_tag} is not manylinux (built here from source?)"
            elif glibc > RUNTIME_GLIBC:
                yield f"{where}: needs glibc {glibc}, the runtime has {RUNTIME_GLIBC}"


def _extension_problems(site: Path) -> Iterator[str]:
    for module in sorted(site.rglob("*.cpython-*.so")):
        if not module.name.endswith(EXTENSION_SUFFIX):
            yield f"{module.relative_to(site)}: not a CPython 3.13 x86_64 extension"


def _start_import(python313: str, function: Path, layers: list[Path], module: str) -> Popen[str]:
    """Import the handler's module as Lambda would: isolated (-I), no site-packages (-S), the
    function folder then the layers on sys.path. Bytecode goes to a cache of our own, not
    into the artifact (so its size stays what is deployed) and makes the next check fast."""
    probe = f"import sys; sys.path[:0] = sys.argv[1:]; import {module}"
    environment = {"PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-1", "LANG": "C.UTF-8"}
    cache = f"pycache_prefix={WORK_DIR / 'pycache'}"
    argv = [python313, "-I", "-S", "-X", cache, "-c", probe, str(function), *map(str, layers)]
    # argv of our own: the Python 3.13 found by scripts/find-python313 and built folders.
    return Popen(argv, cwd=function, env=environment, stdout=PIPE, stderr=PIPE, text=True)  # noqa: S603


def _import_problem(started: Popen[str], module: str) -> str:
    _, stderr = started.communicate(timeout=300)
    if started.returncode == 0:
        return ""
    last_lines = "\n    ".join(stderr.strip().splitlines()[-3:])
    return f"`import {module}` fails on Python 3.13:\n    {last_lines}"


def check(python313: str) -> int:
    artifacts = zip_artifacts()
    built_template = BUILD_DIR / "template.yaml"
    if not built_template.is_file():
        print(f"error: no build in {BUILD_DIR}: run `make sam-build`", file=sys.stderr)
        return 1
    built = load_template(built_template)["Resources"]
    folders: dict[str, Path] = {}
    problems: list[str] = [] if artifacts else [f"no zip function or layer in {TEMPLATE}"]
    for artifact in artifacts:
        properties = built.get(artifact.logical_id, {}).get("Properties", {})
        uri = properties.get("CodeUri" if artifact.kind == "function" else "ContentUri")
        folder = BUILD_DIR / str(uri)
        if not uri or not folder.is_dir():
            problems.append(f"{artifact.logical_id}: not built (no folder {folder})")
            continue
        folders[artifact.logical_id] = folder

    sizes = {logical_id: _size(folder) for logical_id, folder in folders.items()}
    imports: dict[str, tuple[Popen[str], str]] = {}
    for artifact in artifacts:
        if artifact.logical_id not in folders:
            continue
        folder = folders[artifact.logical_id]
        say = f"{artifact.logical_id}:"
        if artifact.kind == "layer":
            site = folder / "python"
            if not site.is_dir():
                problems.append(f"{say} no python/ folder")
                continue
            # Each package of the layer's source folder, complete (the core layer: dogdetect
            # with its migrations and their alembic template).
            for package in sorted(p.parent for p in artifact.source.glob("*/__init__.py")):
                missing = sorted(map(str, _files(package) - _files(site / package.name)))
                if missing:
                    problems.append(f"{say} python/{package.name} lacks {missing[:5]}")
            requirements = artifact.source / "requirements.txt"
            if requirements.is_file():
                absent = set(_requirement_names(requirements)) - _installed(site)
                if absent:
                    problems.append(f"{say} requirements not installed: {sorted(absent)}")
            problems += [f"{say} {p}" for p in _wheel_problems(site)]
            problems += [f"{say} {p}" for p in _extension_problems(site)]
        else:
            module = artifact.handler.rsplit(".", 1)[0]
            if not (folder / (module.replace(".", "/") + ".py")).is_file():
                problems.append(f"{say} no {module}.py for handler {artifact.handler}")
                continue
            layer_folders = [
                folders[layer] / "python" for layer in artifact.layers if layer in folders
            ]
            total = sizes[artifact.logical_id] + sum(
                sizes[layer] for layer in artifact.layers if layer in sizes
            )
            if total > UNZIPPED_LIMIT_BYTES:
                problems.append(f"{say} {total:,} bytes with its layers, over Lambda's limit")
            # Started now, all at once; their answers are read below.
            imports[artifact.logical_id] = (
                _start_import(python313, folder, layer_folders, module),
                module,
            )

    for logical_id, (started, module) in imports.items():
        problem = _import_problem(started, module)
        if problem:
            problems.append(f"{logical_id}: {problem}")

    # What the issue names explicitly: the web stack and pydantic's compiled core.
    deps = [
        folders[a.logical_id] / "python"
        for a in artifacts
        if a.kind == "layer" and a.logical_id in folders
    ]
    for required in ("fastapi/__init__.py", f"pydantic_core/_pydantic_core.{EXTENSION_SUFFIX}"):
        if not any((site / required).is_file() for site in deps):
            problems.append(f"no layer has python/{required}")

    print(f"{'artifact':<18} {'kind':<9} {'unzipped bytes':>15}")
    for artifact in artifacts:
        if artifact.logical_id in sizes:
            size = sizes[artifact.logical_id]
            print(
                f"{artifact.logical_id:<18} {artifact.kind:<9} {size:>15,}  ({size / 1e6:.1f} MB)"
            )
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 1
    imported = sum(1 for a in artifacts if a.kind == "function")
    print(
        f"sam build check: {len(artifacts)} artifacts OK; {imported} handlers import on Python 3.13"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_command = commands.add_parser("build", help="sam build of the zip artifacts")
    build_command.add_argument("--sam", required=True, help="the sam executable")
    check_command = commands.add_parser("check", help="check the built zip artifacts")
    for command in (build_command, check_command):
        command.add_argument("--python313", required=True, help="a Python 3.13 interpreter")
    arguments = parser.parse_args()
    if arguments.command == "build":
        return build(arguments.sam, arguments.python313)
    return check(arguments.python313)


if __name__ == "__main__":
    sys.exit(main())
