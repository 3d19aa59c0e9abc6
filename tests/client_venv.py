"""The client as a user installs it: clients/python into an empty venv, offline.

The wheel is built from a copy of clients/python (the checkout stays clean) with this venv's
setuptools and no build isolation, so no index is asked for anything; then a new venv (only
what `python -m venv` puts there: pip, and setuptools before Python 3.12) installs it with
`--no-index`, so a dependency, had the client one, could not be found and the install would
fail. What `pip install ./clients/python` does, in two steps that need no network."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLIENT_SOURCE = REPO / "clients" / "python"
DISTRIBUTION = "dogdetect-client"
# What `python -m venv` itself installs, depending on the Python version.
VENV_SEED = frozenset({"pip", "setuptools"})

_DISTRIBUTIONS = (
    "import importlib.metadata as m, json; "
    "print(json.dumps(sorted(d.metadata['Name'].lower() for d in m.distributions())))"
)


@dataclass(frozen=True)
class InstalledClient:
    venv: Path
    python: Path
    dogdetect: Path  # the console script
    seeded: frozenset[str]  # the distributions of the venv before the install
    installed: frozenset[str]  # and after it
    home: Path  # a working folder outside the checkout, for the commands to run in

    def environment(self, **extra: str) -> dict[str, str]:
        """A user's environment: this venv's bin first on PATH, nothing of the checkout's or
        of the test run's (no PYTHONPATH, no proxy, no AWS variables)."""
        path = os.pathsep.join([str(self.python.parent), "/usr/bin", "/bin"])
        return {"PATH": path, "HOME": str(self.home), "LANG": "C.UTF-8", **extra}

    def run(
        self, *argv: str | Path, timeout: float = 180, **extra_env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(arg) for arg in argv],
            cwd=self.home,
            env=self.environment(**extra_env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _check(argv: list[str | Path], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(arg) for arg in argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def install_client(where: Path) -> InstalledClient:
    """clients/python built and installed into a new venv under `where`."""
    home = where / "home"
    home.mkdir(parents=True)
    # pip as a user's would run, minus the network: no config file, no version check.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
    }
    source = where / "source"
    shutil.copytree(
        CLIENT_SOURCE,
        source,
        ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__"),
    )
    wheels = where / "wheels"
    # This venv's setuptools builds it: clients/python/pyproject.toml asks for >= 77.
    _check(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--wheel-dir", wheels, source],
        home, env,
    )  # fmt: skip
    (wheel,) = wheels.glob("dogdetect_client-*.whl")

    venv = where / "venv"
    # A venv's `python -m venv` makes a venv of the base interpreter: nothing of .venv's.
    _check([sys.executable, "-m", "venv", venv], home, env)
    python = venv / "bin" / "python"
    seeded = frozenset(json.loads(_check([python, "-I", "-c", _DISTRIBUTIONS], home, env)))
    _check([python, "-m", "pip", "install", "--quiet", "--no-index", wheel], home, env)
    installed = frozenset(json.loads(_check([python, "-I", "-c", _DISTRIBUTIONS], home, env)))
    return InstalledClient(venv, python, venv / "bin" / "dogdetect", seeded, installed, home)
