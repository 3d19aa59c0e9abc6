"""The predict image's runtime stage without Docker: install it, trim it, check it.

    python scripts/predict_runtime.py --python313 /path/to/python3.13 [--model DIR] [--photo JPG]

Installs functions/predict/requirements.txt, as the Dockerfile's runtime stage does, for
CPython 3.13 on manylinux x86_64 (within Amazon Linux 2023's glibc) into
.aws-sam-test/predict-runtime, then trims it with functions/predict/trim_runtime.py (the
Dockerfile's own script). Both are skipped when the requirements, the trim script and the
interpreter are those of the last install (a stamp); otherwise pip downloads every wheel it
does not find in its cache. Then it checks what the image would hold:

- no torch, torchvision or ultralytics (distribution or top-level module), every
  requirement installed, every wheel and extension loadable by Lambda's Python 3.13;
- the installed size, at most SIZE_LIMIT_BYTES (printed with the biggest distributions,
  and written to .aws-sam-test/predict-runtime.json for the benchmarks);
- on Python 3.13 with nothing but the function folder, the core package and the install on
  sys.path: functions/predict/build_model_cache.py fills an OpenVINO cache (the export
  stage's step); then, with the cache folder read-only (as /opt is in Lambda), the handler's
  module imports and the engine that `load_detector(Settings())` builds from DETECTOR_ENGINE,
  MODEL_PATH and OPENVINO_CACHE_DIR finds the dog in dog.jpg, loading neither torch nor
  ultralytics: from that cache (the compiled model must come from it), and, compiling
  instead but without failing, from a copy made on another CPU (OpenVINO's key holds the
  CPU's name: no blob found) and from one whose blob OpenVINO finds but cannot import.

Run with the SAM CLI's venv python (.venv-sam), like scripts/sam_zip.py, whose checks it
reuses.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from subprocess import PIPE, Popen

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sam_zip import (  # the sibling script, found through the line above
    REPO,
    RUNTIME_GLIBC,
    WORK_DIR,
    _canonical,
    _extension_problems,
    _installed,
    _requirement_names,
    _wheel_problems,
)

FUNCTION = REPO / "functions" / "predict"
REQUIREMENTS = FUNCTION / "requirements.txt"
TRIM = FUNCTION / "trim_runtime.py"
BUILD_MODEL_CACHE = FUNCTION / "build_model_cache.py"
CORE = REPO / "layers" / "core"
TARGET = WORK_DIR / "predict-runtime"
STAMP = WORK_DIR / "predict-runtime.installed"
REPORT = WORK_DIR / "predict-runtime.json"
CACHES = WORK_DIR / "predict-runtime-cache"
SHARED = REPO.parent / "shared"
DEFAULT_MODEL = SHARED / "models" / "yolo11n_int8_openvino_model"
DEFAULT_PHOTO = SHARED / "images" / "dog.jpg"

# The image's budget for its Python packages: the runtime stage without torch is about a
# fifth of the old single-stage image's site-packages.
SIZE_LIMIT_BYTES = 500_000_000
FORBIDDEN = ("torch", "torchvision", "ultralytics")
# Every manylinux tag Lambda's glibc loads: pip takes --platform tags literally.
PLATFORMS = [
    *(f"manylinux_2_{minor}_x86_64" for minor in range(RUNTIME_GLIBC[1], 16, -1)),
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
]
PIP_OPTIONS = [
    *(option for platform in PLATFORMS for option in ("--platform", platform)),
    "--python-version",
    "3.13",
    "--implementation",
    "cp",
    "--only-binary=:all:",
]

# Runs in the probe interpreter: the function folder, the core package and the install are
# its whole sys.path (Lambda's /var/task and the image's site-packages).
PROBE = """
import importlib.util, json, os, sys
heavy = sys.argv[2].split(",")
found = [name for name in heavy if importlib.util.find_spec(name)]
if found:
    sys.exit(f"importable: {found}")
try:
    open(os.path.join(os.environ["OPENVINO_CACHE_DIR"], ".write-probe"), "x").close()
except OSError:
    pass
else:
    sys.exit("the cache folder is writable: the read-only case was not tested")
import app  # functions/predict/app.py, as the image's CMD ["app.handler"]
import numpy as np
from PIL import Image
from dogdetect.adapters.detector.loading import load_detector
from dogdetect.config import Settings
detector = load_detector(Settings())
with Image.open(sys.argv[1]) as photo:
    (detections,) = detector.detect([np.asarray(photo.convert("RGB"))])
print(json.dumps({
    "engine": type(detector).__name__,
    "labels": sorted({d.label for d in detections}),
    "loaded_from_cache": detector.loaded_from_cache,
    "loaded": sorted({m.split(".")[0] for m in sys.modules} & set(heavy)),
}))
"""


# ------------------------------------------------------------------------------ install


def _requirement_files(requirements: Path) -> list[Path]:
    """The file and every file it includes with -r."""
    found = [requirements]
    for raw in requirements.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith(("-r ", "--requirement ")):
            found += _requirement_files((requirements.parent / line.split(None, 1)[1]).resolve())
    return found


def _install_key(python313: str) -> str:
    digest = hashlib.sha256()
    for path in [*_requirement_files(REQUIREMENTS), TRIM]:
        digest.update(path.read_bytes())
    version = subprocess.run(  # noqa: S603  # argv of our own: the Python 3.13 we were given
        [python313, "-c", "import sys; print(sys.version)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    digest.update(" ".join([version, *PIP_OPTIONS]).encode())
    return digest.hexdigest()


def install(python313: str) -> int:
    """Install and trim, unless the stamp says this exact install is there; bytes trimmed."""
    key = _install_key(python313)
    if TARGET.is_dir() and STAMP.is_file():
        stamp = json.loads(STAMP.read_text())
        if stamp.get("key") == key:
            print(f"{TARGET.relative_to(REPO)}: up to date (requirements unchanged)")
            return int(stamp["trimmed_bytes"])
    staging = TARGET.with_name(TARGET.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    STAMP.unlink(missing_ok=True)
    pip = [python313, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    pip += ["--root-user-action", "ignore"]
    pip += ["--target", str(staging), *PIP_OPTIONS, "-r", str(REQUIREMENTS)]
    print("pip install --target", staging.relative_to(REPO), "-r", REQUIREMENTS.relative_to(REPO))
    subprocess.run(pip, check=True)  # noqa: S603  # argv of our own
    trimmed = subprocess.run(  # noqa: S603  # the Dockerfile's own trim step
        [python313, str(TRIM), str(staging)], check=True, capture_output=True, text=True
    )
    print(trimmed.stdout.strip())
    shutil.rmtree(TARGET, ignore_errors=True)
    staging.rename(TARGET)
    removed = int(trimmed.stdout.split()[1].replace(",", ""))
    STAMP.write_text(json.dumps({"key": key, "trimmed_bytes": removed}))
    return removed


# ------------------------------------------------------------------------------ contents


def _file_size(path: Path) -> int:
    return path.stat().st_size if path.is_file() and not path.is_symlink() else 0


def distribution_sizes(site: Path) -> dict[str, int]:
    """Bytes on disk of each installed distribution, from its RECORD (trimmed files gone)."""
    sizes = {}
    for record in site.glob("*.dist-info/RECORD"):
        name = _canonical(record.parent.name.split("-")[0])
        files = {
            (site / line.split(",", 1)[0]).resolve()
            for line in record.read_text().splitlines()
            if line.strip()
        }
        sizes[name] = sum(_file_size(path) for path in files if path.is_relative_to(site))
    return dict(sorted(sizes.items(), key=lambda item: -item[1]))


def content_problems(site: Path) -> list[str]:
    problems = []
    installed = _installed(site)
    for name in FORBIDDEN:
        if name in installed:
            problems.append(f"the distribution {name} is installed")
        if any(site.glob(f"{name}/__init__.py")) or any(site.glob(f"{name}.*")):
            problems.append(f"a top-level module {name} is installed")
    absent = set(_requirement_names(REQUIREMENTS)) - installed
    if absent:
        problems.append(f"requirements not installed: {sorted(absent)}")
    problems += list(_wheel_problems(site))
    problems += list(_extension_problems(site))
    return problems


def report_size(site: Path, trimmed: int) -> list[str]:
    total = sum(_file_size(path) for path in site.rglob("*"))
    packages = distribution_sizes(site)
    REPORT.write_text(
        json.dumps(
            {
                "requirements": str(REQUIREMENTS.relative_to(REPO)),
                "python": "3.13",
                "total_bytes": total,
                "limit_bytes": SIZE_LIMIT_BYTES,
                "trimmed_bytes": trimmed,
                "packages": packages,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"installed: {total:,} bytes ({total / 1e6:.1f} MB; limit {SIZE_LIMIT_BYTES / 1e6:.0f})")
    print(f"  trimmed from OpenVINO: {trimmed:,} bytes; written to {REPORT.relative_to(REPO)}")
    for name, size in list(packages.items())[:8]:
        print(f"  {name:<28} {size:>13,}  ({size / 1e6:.1f} MB)")
    if total > SIZE_LIMIT_BYTES:
        return [f"{total:,} bytes installed, over the {SIZE_LIMIT_BYTES:,} budget"]
    return []


# ------------------------------------------------------------------------------ probes


def _environment(model: Path, cache: Path) -> dict[str, str]:
    # Only what the image sets; PYTHONPATH makes its sys.path (-S: no other site-packages).
    paths = [FUNCTION, CORE, TARGET]
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "AWS_REGION": "us-east-1",
        "PYTHONPATH": os.pathsep.join(map(str, paths)),
        "DETECTOR_ENGINE": "openvino",
        "MODEL_PATH": str(model),
        "OPENVINO_CACHE_DIR": str(cache),
    }


def _read_only(argv: list[str], folder: Path, seen_at: Path) -> list[str]:
    """argv run with `folder` read-only, at the path `seen_at` (OpenVINO keys a blob by the
    path of the model it compiled: a copy of a cache is found only where it was filled). As
    root, permissions do not stop writes: a private mount namespace with a read-only bind
    mount of the folder does. Otherwise the folder is made read-only where it is."""
    if os.geteuid() != 0:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        return argv
    remount = 'mount --bind -o ro "$0" "$1" && shift && exec "$@"'
    sh = ["sh", "-c", remount, str(folder), str(seen_at)]
    return ["unshare", "--map-root-user", "--mount", *sh, *argv]


def _remove(folder: Path) -> None:
    if folder.exists():
        for path in [folder, *folder.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o700)  # made read-only by a previous run
        shutil.rmtree(folder)


def fill_cache(python313: str, model: Path, cache: Path) -> None:
    _remove(cache)
    argv = [python313, "-S", "-B", str(BUILD_MODEL_CACHE), str(model), str(cache)]
    # argv of our own: the Python 3.13 we were given and the Dockerfile's build script
    subprocess.run(argv, env=_environment(model, cache), cwd=REPO, check=True)  # noqa: S603


def spoiled_copies(filled: Path) -> tuple[Path, Path]:
    """Copies of the cache as another CPU would see it (the blob's key is not this CPU's, so
    OpenVINO finds none) and with a blob OpenVINO finds but cannot import (cut in half)."""
    other_cpu, unusable = CACHES / "other-cpu", CACHES / "unusable"
    for copy in (other_cpu, unusable):
        _remove(copy)
        shutil.copytree(filled, copy)
    for blob in other_cpu.rglob("*.blob"):
        blob.rename(blob.with_name(f"1{blob.name}"))
    for blob in unusable.rglob("*.blob"):
        blob.chmod(0o644)
        with blob.open("r+b") as file:
            file.truncate(blob.stat().st_size // 2)
    return other_cpu, unusable


def _start_probe(python313: str, model: Path, photo: Path, cache: Path, filled: Path) -> Popen[str]:
    """The engine with `cache` read-only, seen at `filled` (where the image's was filled)."""
    probe = [python313, "-S", "-B", "-c", PROBE, str(photo), ",".join(FORBIDDEN)]
    argv = _read_only(probe, cache, filled)
    environment = _environment(model, filled if os.geteuid() == 0 else cache)
    # argv of our own (see above); cwd outside the install, as Lambda's /var/task is
    return Popen(argv, env=environment, cwd=CACHES, stdout=PIPE, stderr=PIPE, text=True)  # noqa: S603


def _answer_problems(case: str, process: Popen[str], from_cache: bool, photo: Path) -> list[str]:
    stdout, stderr = process.communicate(timeout=600)
    if process.returncode != 0:
        tail = "\n    ".join(stderr.strip().splitlines()[-4:])
        return [f"the engine {case}: failed\n    {tail}"]
    answer = json.loads(stdout.strip().splitlines()[-1])
    cached = answer["loaded_from_cache"]
    print(f"engine {case}: {answer['engine']}, loaded from the cache: {cached}, ", end="")
    print(f"found {', '.join(answer['labels'])}")
    problems = []
    if cached != from_cache:
        problems.append(f"the engine {case}: loaded from the cache: {cached}")
    if "dog" not in answer["labels"]:
        problems.append(f"the engine {case}: no dog in {photo.name}: {answer['labels']}")
    if answer["loaded"]:
        problems.append(f"the engine {case}: loaded {answer['loaded']}")
    return problems


def probe_problems(python313: str, model: Path, photo: Path) -> list[str]:
    """Fill a cache as the export stage does, then run the handler's engine three ways at
    once, each with its cache folder read-only, as /opt is in Lambda."""
    CACHES.mkdir(parents=True, exist_ok=True)
    filled = CACHES / "filled"
    fill_cache(python313, model, filled)
    other_cpu, unusable = spoiled_copies(filled)
    # case: (cache folder, whether the compiled model must come from it)
    cases = {
        "from the cache": (filled, True),
        "from a cache made on another CPU": (other_cpu, False),
        "from a cache it cannot use": (unusable, False),
    }
    started = {
        case: _start_probe(python313, model, photo, cache, filled)
        for case, (cache, _) in cases.items()
    }
    return [
        problem
        for case, process in started.items()
        for problem in _answer_problems(case, process, cases[case][1], photo)
    ]


# ------------------------------------------------------------------------------ main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--python313", required=True, help="a Python 3.13 interpreter")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="an OpenVINO export")
    parser.add_argument("--photo", type=Path, default=DEFAULT_PHOTO, help="a photo with a dog")
    arguments = parser.parse_args()
    started = time.monotonic()
    WORK_DIR.mkdir(exist_ok=True)
    trimmed = install(arguments.python313)
    problems = content_problems(TARGET)
    problems += report_size(TARGET, trimmed)
    if not problems:
        problems += probe_problems(arguments.python313, arguments.model, arguments.photo)
    for problem in problems:
        print(f"error: predict runtime: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(
        f"predict runtime check: OK in {time.monotonic() - started:.1f} s "
        "(no torch, torchvision or ultralytics; the handler's engine finds the dog)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
