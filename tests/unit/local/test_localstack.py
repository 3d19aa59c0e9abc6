"""How the local stack starts LocalStack (local/localstack.py): on the stack's address only,
with none of the project venv's environment, and a clear error when its venv is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.config import LocalConfig
from local.localstack import localstack_environment, localstack_python


def test_it_listens_on_the_stacks_address_and_port_only(tmp_path: Path) -> None:
    config = LocalConfig(state_dir=tmp_path, host="127.0.0.1", aws_port=4599)
    environment = localstack_environment(config)
    assert environment["GATEWAY_LISTEN"] == "127.0.0.1:4599"
    # the server that binds GATEWAY_LISTEN's address (twisted takes the port only)
    assert environment["GATEWAY_SERVER"] == "hypercorn"
    assert environment["DNS_ADDRESS"] == "0"
    assert Path(environment["FILESYSTEM_ROOT"]).is_relative_to(tmp_path)
    assert Path(environment["TMPDIR"]).is_relative_to(tmp_path)


def test_none_of_the_projects_venv_reaches_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIRTUAL_ENV", "/somewhere/.venv")
    monkeypatch.setenv("PYTHONPATH", "/somewhere/site-packages")
    environment = localstack_environment(LocalConfig(state_dir=tmp_path))
    assert "VIRTUAL_ENV" not in environment and "PYTHONPATH" not in environment


def test_a_missing_venv_names_the_command_that_makes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCALSTACK_PYTHON", str(tmp_path / "no-such" / "python"))
    with pytest.raises(SystemExit, match="make local EMULATOR=localstack"):
        localstack_python()
