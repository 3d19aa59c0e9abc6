"""migrate: the CloudFormation custom resource (DatabaseMigrations in infra/template.yaml) that
runs `alembic upgrade head` on every deploy, before the other functions get their new code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from dogdetect.adapters.cloudformation import put_response, response_body
from dogdetect.adapters.secrets import database_url
from dogdetect.migrate import upgrade_unless_newer
from dogdetect.settings import Settings
from sqlalchemy.engine import URL

logger = Logger(service="migrate")

PHYSICAL_RESOURCE_ID = "dogdetect-schema"
LEFT_AS_IT_IS = "schema left as it is"


def url_string(url: str | URL) -> str:
    # str(URL) masks the password as "***"; alembic needs the real one.
    return url if isinstance(url, str) else url.render_as_string(hide_password=False)


def migrate_from_settings() -> str:
    settings = Settings()
    return upgrade_unless_newer(url_string(database_url(settings)), tls=settings.database_tls)


@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any],
    context: Any,
    migrate: Callable[[], str] = migrate_from_settings,
    respond: Callable[[str, bytes], int] = put_response,
) -> None:
    # Deleting the stack (or replacing this resource) never drops data.
    request_type = event.get("RequestType")
    try:
        reason = LEFT_AS_IT_IS if request_type == "Delete" else migrate()
        status, data = "SUCCESS", {"Message": reason}
    except Exception as exc:  # any failure must reach CloudFormation, or the deploy hangs
        logger.exception("migration failed")
        stream = getattr(context, "log_stream_name", "")
        status, data = "FAILED", {}
        reason = f"{type(exc).__name__}: {exc} (log stream {stream})"
    logger.info(reason, extra={"request_type": request_type, "status": status})
    respond(event["ResponseURL"], response_body(event, status, reason, PHYSICAL_RESOURCE_ID, data))
