"""`make local` takes the user's settings from its environment (a fixed WEBHOOK_SECRET, a
threshold, API keys), defaults the rest (a new secret per start, the local retry schedule), and
never lets a variable left in a shell replace the stack's own (its queues, database, endpoint,
credentials)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from dogdetect.config import Settings
from dogdetect.domain.webhooks.retry import DEFAULT_RETRY_DELAYS, parse_delays

from local import settings
from local.aws import Resources
from local.config import LOCAL_WEBHOOK_RETRY_DELAYS, LocalConfig
from local.launcher import free_port
from local.stack import function_environment, parse_config, per_function_environments, run

RESOURCES = Resources("the-bucket", "http://jobs", "arn:jobs", "http://dlq", "arn:dlq")
CONFIG = LocalConfig(state_dir=Path("/tmp/state"))
SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def environment(environ: dict[str, str]) -> dict[str, str]:
    return function_environment(CONFIG, "postgresql://app", "http://aws", RESOURCES, environ)


def variable(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    return alias if isinstance(alias, str) else field.upper()


def test_every_setting_is_either_the_users_or_the_stacks() -> None:
    names = {variable(field) for field in Settings.model_fields}
    assert settings.USER_SETTINGS.isdisjoint(settings.STACK_OWNED)
    assert names == settings.USER_SETTINGS | settings.STACK_OWNED


def test_without_settings_of_the_user_make_local_uses_its_own_defaults() -> None:
    first, second = environment({}), environment({})
    assert first["WEBHOOK_SECRET"] != second["WEBHOOK_SECRET"]  # a new one per start
    assert first["WEBHOOK_SECRET"].startswith("whsec_")
    assert first["WEBHOOK_RETRY_DELAYS"] == LOCAL_WEBHOOK_RETRY_DELAYS
    assert first["ALLOW_HTTP_WEBHOOKS"] == "true"
    assert "API_KEYS" not in first and "DOG_CONFIDENCE" not in first


def test_the_users_settings_replace_the_defaults() -> None:
    chosen = {
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_RETRY_DELAYS": "1,1",
        "ALLOW_HTTP_WEBHOOKS": "false",
        "DOG_CONFIDENCE": "0.6",
        "API_KEYS": "a-key,another",
    }
    got = environment(chosen)
    assert {name: got[name] for name in chosen} == chosen
    assert environment({"WEBHOOK_SECRET": SECRET})["WEBHOOK_SECRET"] == SECRET  # every start


def test_the_stacks_own_values_are_never_the_environments() -> None:
    left_in_a_shell = {
        "QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/prod-jobs",
        "NOTIFICATIONS_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/prod-hooks",
        "BUCKET_NAME": "prod-bucket",
        "DATABASE_URL": "postgresql://prod",
        "AWS_ENDPOINT_URL": "https://prod",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "MAX_RECEIVE_COUNT": "50",
    }
    got = environment(left_in_a_shell)
    assert got["QUEUE_URL"] == "http://jobs" and got["BUCKET_NAME"] == "the-bucket"
    assert got["DATABASE_URL"] == "postgresql://app" and got["AWS_ENDPOINT_URL"] == "http://aws"
    assert got["AWS_DEFAULT_REGION"] == CONFIG.region
    assert got["MAX_RECEIVE_COUNT"] == str(CONFIG.queue_config.max_receive_count)


def test_each_function_gets_none_of_the_stack_owned_variables_of_the_shell(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "DATABASE_HOST": "prod.example",
        "WEBHOOK_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:1:secret:prod",
        "AWS_SESSION_TOKEN": "a-real-session",
        "AWS_PROFILE": "prod",
        "SOMETHING_ELSE": "kept",
    }.items():
        monkeypatch.setenv(name, value)
    shared = environment({})
    functions = per_function_environments(CONFIG, shared, "http://aws", RESOURCES, False)
    for env in functions.values():
        for name in ("DATABASE_HOST", "WEBHOOK_SECRET_ARN", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            assert name not in env
        assert env["SOMETHING_ELSE"] == "kept"
        assert env["WEBHOOK_SECRET"] == shared["WEBHOOK_SECRET"]


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"WEBHOOK_SECRET": "whsec_" + base64.b64encode(b"short").decode()}, "WEBHOOK_SECRET"),
        ({"WEBHOOK_SECRET": "whsec_not base64!"}, "WEBHOOK_SECRET"),
        ({"WEBHOOK_RETRY_DELAYS": "soon"}, "WEBHOOK_RETRY_DELAYS"),
        ({"DOG_CONFIDENCE": "1.5"}, "DOG_CONFIDENCE"),
        ({"DETECTOR_ENGINE": "torch"}, "DETECTOR_ENGINE"),
    ],
)
def test_a_setting_the_functions_would_refuse_stops_the_start(
    given: dict[str, str], named: str
) -> None:
    with pytest.raises(SystemExit) as refused:
        environment(given)
    message = str(refused.value)
    assert message.startswith(f"error: {named}: ")
    if named == "WEBHOOK_SECRET":
        assert given[named] not in message  # never the secret itself


def test_the_local_schedule_is_seconds_and_the_clouds_about_an_hour() -> None:
    local, cloud = parse_delays(LOCAL_WEBHOOK_RETRY_DELAYS), parse_delays(DEFAULT_RETRY_DELAYS)
    assert len(local) == len(cloud)  # the same five tries
    assert sum(local) <= 60 < 45 * 60 <= sum(cloud)
    assert LocalConfig().webhook_retry_delays == LOCAL_WEBHOOK_RETRY_DELAYS
    assert Settings().webhook_retry_delays == DEFAULT_RETRY_DELAYS


def test_a_shortened_visibility_timeout_retries_webhooks_after_it() -> None:
    assert parse_config([]).webhook_retry_delays == LOCAL_WEBHOOK_RETRY_DELAYS
    assert parse_config(["--visibility-timeout", "3"]).webhook_retry_delays == "3"


def test_make_local_refuses_a_bad_setting_before_it_starts_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOG_CONFIDENCE", "2")
    state = tmp_path / "state"
    config = LocalConfig(
        state_dir=state, api_port=free_port(), aws_port=free_port(), pg_port=free_port()
    )
    with pytest.raises(SystemExit, match=r"^error: DOG_CONFIDENCE: "):
        run(config)
    assert not state.exists()  # no database, no emulator, no state folder
