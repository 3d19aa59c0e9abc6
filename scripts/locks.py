"""The dependency locks: every install the Makefile makes takes exact pins with hashes.

    python scripts/locks.py compile [--keep]  # make lock: every lock again from its input
    python scripts/locks.py check             # each lock was made from its inputs as they are
    .venv/bin/python scripts/locks.py install requirements-dev.txt   # the venv becomes the lock

Each lock is a requirements file (the name SAM, pip and the Dockerfile read) that
`uv pip compile --generate-hashes` makes from the `.in` file beside it (ranges, `-r`
includes) for one Python version and one platform: every distribution pinned with `==` and
the sha256 of each of its files on PyPI, so pip installs nothing else (hash-checking mode).
`compile` takes the newest releases the ranges allow; `--keep` keeps what is locked unless
an input changed it. The Python 3.13 locks are made in order, each constrained by the ones
before it, so the unit tests on 3.13 get the versions that the Lambda layer and image ship.

A lock's header records its Python, its platform and a digest of its inputs (the `.in` file,
the files it includes, the constraint files); `check` (in `make lint`) fails when an input
changed after `make lock`.

`install` runs with the venv's own python: pip first, at the locked version; then the lock
with `--require-hashes --no-deps`; then every distribution the lock does not name is removed
(editable installs of the project aside) and `pip check` confirms the set is complete.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The python3.13 Lambda runtime runs on Amazon Linux 2023 (glibc 2.34), x86_64.
LAMBDA = "x86_64-manylinux_2_34"
# The developers' machines and CI: Linux x86_64 (torch's wheels are manylinux_2_28).
HERE = "x86_64-manylinux_2_28"


@dataclass(frozen=True)
class Lock:
    path: str  # the lock, relative to the repository
    source: str  # its input: ranges
    python: str  # the Python version it is resolved for
    platform: str  # uv's --python-platform
    constraints: tuple[str, ...] = ()  # files whose pins it must keep (earlier locks too)
    binary_only: bool = False  # wheels only: what Lambda's builds install


# In order: a lock comes after the locks it is constrained by.
LOCKS = (
    Lock("layers/deps/requirements.txt", "layers/deps/requirements.in", "3.13", LAMBDA,
         binary_only=True),
    Lock("functions/predict/requirements.txt", "functions/predict/requirements.in", "3.13",
         LAMBDA, ("layers/deps/requirements.txt",), binary_only=True),
    Lock("requirements-unit.txt", "requirements-unit.in", "3.13", HERE,
         ("layers/deps/requirements.txt", "functions/predict/requirements.txt")),
    Lock("requirements-dev.txt", "requirements-dev.in", "3.11", HERE, ("constraints.txt",)),
    Lock("infra/requirements-sam.txt", "infra/requirements-sam.in", "3.11", HERE),
    Lock("requirements-localstack.txt", "requirements-localstack.in", "3.13", HERE),
)  # fmt: skip
LOCK_PATHS = {lock.path for lock in LOCKS}

HEADER = """\
# Made by `make lock` (scripts/locks.py) from {source}: do not edit, change
# that file and run `make lock`. Exact pins, with the sha256 of each file on PyPI.
# python: {python}  platform: {platform}  inputs: sha256:{digest}
"""
HEADER_FIELDS = re.compile(
    r"^# python: (?P<python>\S+)  platform: (?P<platform>\S+)  inputs: sha256:(?P<digest>\w+)$",
    re.MULTILINE,
)
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def find(path: str) -> Lock:
    relative = Path(path).resolve().relative_to(REPO).as_posix()
    for lock in LOCKS:
        if lock.path == relative:
            return lock
    sys.exit(f"error: {path} is not a lock of scripts/locks.py ({', '.join(sorted(LOCK_PATHS))})")


# ------------------------------------------------------------------------------ inputs


def _included(requirements: Path) -> list[Path]:
    """The file and every file it includes (-r) or is constrained by (-c), recursively."""
    found = [requirements]
    for raw in requirements.read_text().splitlines():
        option, _, argument = raw.split("#", 1)[0].strip().partition(" ")
        if option in {"-r", "--requirement", "-c", "--constraint"}:
            found += _included((requirements.parent / argument.strip()).resolve())
    return found


def digest(lock: Lock) -> str:
    """The inputs' sha256: each input file (its path and its lines without comments) and the
    lock's settings. Constraint files that are locks count by name only: `make lock` makes
    them too."""
    files = _included(REPO / lock.source)
    for constraint in lock.constraints:
        if constraint not in LOCK_PATHS:
            files += _included(REPO / constraint)
    hashed = hashlib.sha256()
    settings = [lock.python, lock.platform, str(lock.binary_only), *lock.constraints]
    hashed.update("\0".join(settings).encode())
    for path in dict.fromkeys(files):  # once each, in order
        lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
        text = "\n".join([path.relative_to(REPO).as_posix(), *filter(None, lines)])
        hashed.update(f"\0{text}".encode())
    return hashed.hexdigest()


def recorded(path: Path) -> dict[str, str]:
    """The fields of the lock's header (its first lines)."""
    header = "".join(path.read_text().splitlines(keepends=True)[:5]) if path.is_file() else ""
    match = HEADER_FIELDS.search(header)
    return match.groupdict() if match else {}


def stale(lock: Lock) -> str:
    """Why the lock is not the one its inputs make, or ""."""
    path = REPO / lock.path
    if not path.is_file():
        return f"{lock.path} is missing"
    if recorded(path).get("digest") != digest(lock):
        return f"{lock.path} was not made from {lock.source} as it is now"
    return ""


# ------------------------------------------------------------------------------ compile


def compile_locks(uv: str, keep: bool) -> int:
    for lock in LOCKS:
        command = [uv, "pip", "compile", "--quiet", "--no-config", "--generate-hashes"]
        command += ["--no-header", "--python-version", lock.python]
        command += ["--python-platform", lock.platform, "--output-file", lock.path]
        command += [] if keep else ["--upgrade"]
        command += ["--only-binary", ":all:"] if lock.binary_only else []
        for constraint in lock.constraints:
            command += ["--constraint", constraint]
        print(f"{lock.path} <- {lock.source} (Python {lock.python}, {lock.platform})")
        # argv of our own: the uv of the dev venv and paths of this repository
        subprocess.run([*command, lock.source], cwd=REPO, check=True)  # noqa: S603
        path = REPO / lock.path
        header = HEADER.format(digest=digest(lock), **vars(lock))
        body = path.read_text()
        path.write_text(header + body)
        print(f"  {len(pins(path))} distributions")
    return 0


def check() -> int:
    problems = [problem for problem in map(stale, LOCKS) if problem]
    for problem in problems:
        print(f"error: {problem}: run `make lock`", file=sys.stderr)
    if not problems:
        print(f"locks: {len(LOCKS)} up to date with their inputs")
    return 1 if problems else 0


# ------------------------------------------------------------------------------ install


def pins(path: Path) -> dict[str, tuple[str, str]]:
    """canonical name -> (version, the lock's lines for it: the pin and its hashes)."""
    found: dict[str, tuple[str, str]] = {}
    name = ""
    for line in path.read_text().splitlines():
        pin = PIN.match(line)
        if pin:
            name = canonical(pin["name"])
            found[name] = (pin["version"], line + "\n")
        elif name and line.lstrip().startswith("--hash"):
            version, lines = found[name]
            found[name] = (version, lines + line + "\n")
        elif not line.startswith(" "):
            name = ""
    return found


def _pip(*arguments: str, capture: bool = False) -> str:
    command = [sys.executable, "-m", "pip", *arguments, "--disable-pip-version-check"]
    # argv of our own: this venv's pip
    done = subprocess.run(command, check=True, capture_output=capture, text=True)  # noqa: S603
    return done.stdout or ""


def _installed() -> dict[str, str]:
    listed = _pip("list", "--format=json", "--exclude-editable", capture=True)
    return {canonical(item["name"]): item["version"] for item in json.loads(listed)}


def install(path: str) -> int:
    lock = find(path)
    lock_file = REPO / lock.path
    python = "{}.{}".format(*sys.version_info[:2])
    if recorded(lock_file).get("python") != python:
        sys.exit(
            f"error: {lock.path} is locked for Python {lock.python}; {sys.executable} is "
            f"{python}. Make the venv with Python {lock.python} (PYTHON=python{lock.python})."
        )
    if stale(lock):
        print(f"WARNING: {stale(lock)}: installing it as it is; run `make lock`", file=sys.stderr)
    locked = pins(lock_file)
    quiet = ["--quiet", "--require-hashes", "--no-deps"]
    # pip first, at the locked version (with its hashes), then everything with that pip
    if "pip" in locked and _installed().get("pip") != locked["pip"][0]:
        with tempfile.TemporaryDirectory() as folder:
            only_pip = Path(folder) / "pip.txt"
            only_pip.write_text(locked["pip"][1])
            _pip("install", *quiet, "-r", str(only_pip))
    _pip("install", *quiet, "-r", str(lock_file))
    extra = sorted(set(_installed()) - set(locked))
    if extra:
        _pip("uninstall", "--quiet", "--yes", *extra)
    installed = _installed()
    wrong = {name: pin for name, (pin, _) in locked.items() if installed.get(name) != pin}
    if wrong:
        sys.exit(f"error: not installed as locked: {wrong}")
    _pip("check", capture=True)
    removed = f"; removed {', '.join(extra)}" if extra else ""
    print(f"{lock.path}: {len(locked)} distributions as locked, in {sys.prefix}{removed}")
    return 0


# ------------------------------------------------------------------------------ main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    compiling = commands.add_parser("compile", help="make every lock again (make lock)")
    compiling.add_argument("--keep", action="store_true", help="keep locked versions if allowed")
    compiling.add_argument("--uv", help="the uv to run (default: beside this python, or PATH)")
    commands.add_parser("check", help="fail when a lock is older than its inputs")
    installing = commands.add_parser("install", help="make this python's venv the lock")
    installing.add_argument("lock")
    arguments = parser.parse_args()
    if arguments.command == "compile":
        beside = Path(sys.executable).parent / "uv"
        uv = arguments.uv or (str(beside) if beside.is_file() else shutil.which("uv"))
        if not uv:
            sys.exit("error: no uv (the dev venv has it: make venv)")
        return compile_locks(uv, arguments.keep)
    if arguments.command == "check":
        return check()
    return install(arguments.lock)


if __name__ == "__main__":
    sys.exit(main())
