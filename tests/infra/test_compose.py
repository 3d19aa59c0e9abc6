"""docker-compose.yml, for those with Docker: LocalStack's image is the release that
`make local EMULATOR=localstack` runs from PyPI, it asks for the auth token its image needs
since 23 March 2026 (compose refuses, saying why, without one), and nothing listens beyond
127.0.0.1."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.infra.conftest import REPO_ROOT

COMPOSE = REPO_ROOT / "docker-compose.yml"
# ${NAME:-default}, ${NAME:?message}: compose's interpolation
VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?P<kind>:-|:\?)(?P<rest>[^}]*)\}")


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return found


def locked_localstack() -> str:
    lock = (REPO_ROOT / "requirements-localstack.txt").read_text()
    match = re.search(r"^localstack-core(?:\[[^\]]*\])?==(\S+)", lock, re.MULTILINE)
    assert match, "localstack-core is not pinned in requirements-localstack.txt"
    return match.group(1)


def test_the_image_is_the_release_the_host_mode_runs(services: dict[str, Any]) -> None:
    image = VARIABLE.sub(lambda m: m["rest"], services["localstack"]["image"])
    repository, tag = image.split(":")
    assert repository == "localstack/localstack"
    # image tags pad the month (2026.03.0), PyPI's versions do not (2026.3.0)
    assert [int(part) for part in tag.split(".")] == [
        int(part) for part in locked_localstack().split(".")
    ]


def test_without_a_token_compose_refuses_and_says_what_to_do(services: dict[str, Any]) -> None:
    token = VARIABLE.fullmatch(services["localstack"]["environment"]["LOCALSTACK_AUTH_TOKEN"])
    assert token and token["name"] == "LOCALSTACK_AUTH_TOKEN" and token["kind"] == ":?"
    assert "make local EMULATOR=localstack" in token["rest"]


def test_persistence_is_asked_for_only_where_the_plan_has_it(services: dict[str, Any]) -> None:
    persistence = VARIABLE.fullmatch(services["localstack"]["environment"]["PERSISTENCE"])
    assert persistence and persistence["kind"] == ":-" and persistence["rest"] == "0"


def test_every_port_is_published_on_loopback_only(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
