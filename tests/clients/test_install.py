"""`pip install ./clients/python` into an empty venv (tests/client_venv.py): one distribution,
no dependency, nothing of the service or of its emulators, and a `dogdetect` that runs.
tests/e2e/test_cli.py runs the same install against the local stack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from dogdetect_client import __version__

from tests.client_venv import DISTRIBUTION, VENV_SEED, InstalledClient, install_client
from tests.fake_api import FakeApi

# What the service, make local and the tests are made of: none may come with the client.
NOT_INSTALLED = (
    "dogdetect",  # the service's core package
    "local",  # make local
    "functions",
    "bench",
    "tests",
    "moto",
    "boto3",
    "botocore",
    "fastapi",
    "mangum",
    "pydantic",
    "sqlalchemy",
    "pg8000",
    "PIL",
    "numpy",
    "httpx",
    "ultralytics",
    "openvino",
    "torch",
)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> InstalledClient:
    return install_client(tmp_path_factory.mktemp("client-venv"))


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    yield fake
    fake.close()


def test_the_install_adds_one_distribution_and_no_dependency(installed: InstalledClient) -> None:
    assert installed.seeded <= VENV_SEED, "the venv was not empty"
    assert installed.installed - installed.seeded == {DISTRIBUTION}
    assert installed.seeded <= installed.installed  # nothing of pip's own was replaced
    probe = (
        "import importlib.metadata as m, json\n"
        f"d = m.distribution({DISTRIBUTION!r})\n"
        "print(json.dumps({'requires': d.requires, 'version': d.version,\n"
        "    'files': sorted(str(f) for f in d.files),\n"
        "    'scripts': sorted(e.name for e in d.entry_points)}))\n"
    )
    done = installed.run(installed.python, "-I", "-c", probe)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["requires"] is None  # no Requires-Dist at all
    assert found["version"] == __version__
    assert found["scripts"] == ["dogdetect"]
    # Its own package, its metadata and its command; nothing else.
    strays = [
        f
        for f in found["files"]
        if not f.startswith(("dogdetect_client/", "dogdetect_client-"))
        and not f.endswith("/bin/dogdetect")
    ]
    assert strays == []
    assert "dogdetect_client/py.typed" in found["files"]


def test_no_module_of_the_service_or_its_emulators_is_importable(
    installed: InstalledClient,
) -> None:
    probe = (
        "import importlib.util, json, sys\n"
        "names = sys.argv[1:]\n"
        "print(json.dumps([n for n in names if importlib.util.find_spec(n) is not None]))\n"
    )
    done = installed.run(installed.python, "-I", "-c", probe, *NOT_INSTALLED)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
    # ... while the client's own is, from the venv (not from the checkout)
    done = installed.run(
        installed.python, "-I", "-c", "import dogdetect_client; print(dogdetect_client.__file__)"
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(installed.venv)


def test_dogdetect_help_and_version(installed: InstalledClient) -> None:
    assert installed.dogdetect.is_file()
    done = installed.run("dogdetect", "--help")  # found on PATH, as a user types it
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: dogdetect")
    assert "predict" in done.stdout and "health" in done.stdout
    for command in ("predict", "health"):
        done = installed.run("dogdetect", command, "--help")
        assert done.returncode == 0, done.stderr
        assert "--api" in done.stdout
    done = installed.run("dogdetect", "--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"dogdetect {__version__}")
    done = installed.run(installed.python, "-m", "dogdetect_client", "--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"dogdetect {__version__}")


def test_the_installed_command_talks_to_an_api(installed: InstalledClient, api: FakeApi) -> None:
    """Against the fake API (tests/e2e/test_cli.py: against the local stack)."""
    done = installed.run("dogdetect", "health", DOGDETECT_API=api.url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == f"{api.url}: ok"
