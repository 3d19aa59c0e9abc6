"""The numbers the client and the service both need, written in both (neither imports the
other): they must be the same."""

from __future__ import annotations

from pathlib import Path

import pytest
from dogdetect.config import Settings
from dogdetect.domain.limits import (
    DEFAULT_DIRECT_UPLOAD_MAX_BYTES,
    DEFAULT_MAX_UPLOAD_BYTES,
    MAX_LIST_LIMIT,
    MAX_WAIT_SECONDS,
)
from dogdetect.domain.options import DEFAULT_CONFIDENCE_FLOOR
from dogdetect_client import client
from dogdetect_client.cli import main

CLIENT_README = Path(__file__).resolve().parents[2] / "clients" / "python" / "README.md"


def test_the_largest_upload_in_one_request_is_the_services() -> None:
    """Larger photos go through a presigned upload: the client must switch where the API stops
    taking them in a request."""
    assert client.DIRECT_LIMIT == DEFAULT_MAX_UPLOAD_BYTES == 4_500_000
    assert Settings.model_fields["max_upload_bytes"].default == client.DIRECT_LIMIT
    assert client.Client(api="http://127.0.0.1:1").direct_limit == client.DIRECT_LIMIT


def test_the_longest_wait_is_the_services() -> None:
    """Prefer: wait=N is clamped to this by the service; the client asks for no more."""
    assert client.MAX_WAIT_SECONDS == MAX_WAIT_SECONDS == 20


def test_the_largest_list_page_is_the_services() -> None:
    """`dogdetect list` asks for pages of at most this; the service refuses larger (422)."""
    assert client.MAX_LIST_LIMIT == MAX_LIST_LIMIT == 100


def test_the_clients_readme_states_the_services_limits() -> None:
    text = CLIENT_README.read_text()
    assert f"{DEFAULT_MAX_UPLOAD_BYTES:,} bytes" in text
    assert f"{DEFAULT_DIRECT_UPLOAD_MAX_BYTES:,}" in text
    assert f"Prefer: wait={MAX_WAIT_SECONDS}" in text


def test_the_commands_help_names_the_services_confidence_floor(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`dogdetect predict --confidence` says where the service's range starts (by default)."""
    assert Settings.model_fields["dog_confidence"].default == DEFAULT_CONFIDENCE_FLOOR
    assert main(["predict", "--help"]) == 0
    words = " ".join(capsys.readouterr().out.split())
    assert f"the service's floor, {DEFAULT_CONFIDENCE_FLOOR}, to 1" in words
