"""migrate: the CloudFormation custom resource (DatabaseMigrations in infra/template.yaml) that
runs `alembic upgrade head` and sets up the runtime functions' database role on every deploy,
before the other functions get their new code. The protocol is `runtime.custom_resource`."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from dogdetect.adapters.cloudformation import put_response
from dogdetect.config import Settings
from dogdetect.runtime.custom_resource import Migrate, Respond, answer
from dogdetect.runtime.migrate import Limits, migrate_from_settings

logger = Logger(service="migrate")
copy_config_to_registered_loggers(source_logger=logger, include={"dogdetect"})


def migrate_from_environment(seconds: float) -> str:
    # Settings are read here, inside the answered part: bad settings fail the deploy with a
    # reason instead of leaving it waiting.
    return migrate_from_settings(Settings(), Limits(budget_seconds=seconds))


@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any],
    context: Any,
    migrate: Migrate = migrate_from_environment,
    respond: Respond = put_response,
) -> None:
    answer(
        event,
        seconds_left=context.get_remaining_time_in_millis() / 1000,
        migrate=migrate,
        respond=respond,
        log_stream=getattr(context, "log_stream_name", ""),
    )
