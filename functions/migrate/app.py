"""migrate: the CloudFormation custom resource (DatabaseMigrations in infra/template.yaml) that
runs `alembic upgrade head` on every deploy, before the other functions get their new code.

The `cfnresponse` module exists only for inline (ZipFile) functions, so the answer to
CloudFormation is a plain HTTPS PUT of a JSON document to the pre-signed ResponseURL."""

from __future__ import annotations

import json
import urllib.request
from typing import Any
from urllib.parse import urlparse

from alembic.util import CommandError
from aws_lambda_powertools import Logger
from dogdetect.adapters.secrets import database_url
from dogdetect.migrate import upgrade
from dogdetect.settings import Settings
from sqlalchemy.engine import URL

logger = Logger(service="migrate")

PHYSICAL_RESOURCE_ID = "dogdetect-schema"
_MAX_REASON = 1000  # the whole response must stay under CloudFormation's 4 KB


def url_string(url: str | URL) -> str:
    # str(URL) masks the password as "***"; alembic needs the real one.
    return url if isinstance(url, str) else url.render_as_string(hide_password=False)


def migrate(request_type: str) -> str:
    """What the event asks of the schema; returns a short description of what was done."""
    if request_type == "Delete":
        # Deleting the stack (or replacing this resource) never drops data.
        return "schema left as it is"
    try:
        settings = Settings()
        upgrade(url_string(database_url(settings)), tls=settings.database_tls)
    except CommandError as exc:
        # A rollback re-sends Update with the previous properties while the database may
        # already carry a newer revision this code does not know: leave it, do not fail
        # the rollback (migrations are additive, the old code runs on the newer schema).
        if request_type == "Update" and "Can't locate revision" in str(exc):
            logger.warning("database schema is newer than this code; left as it is")
            return "schema is newer than this code; left as it is"
        raise
    return "schema upgraded to head"


def send_response(
    event: dict[str, Any], context: Any, status: str, reason: str, data: dict[str, str]
) -> None:
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:_MAX_REASON],
            "PhysicalResourceId": event.get("PhysicalResourceId") or PHYSICAL_RESOURCE_ID,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "NoEcho": False,
            "Data": data,
        }
    ).encode()
    url = event["ResponseURL"]
    if urlparse(url).scheme != "https":
        raise ValueError("ResponseURL must be https")
    request = urllib.request.Request(  # noqa: S310 - https only, checked above
        url,
        data=body,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(body))},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - https only, checked above  # nosec B310
        logger.info("answered CloudFormation", extra={"status": status, "http": response.status})


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> None:
    request_type = str(event.get("RequestType", ""))
    try:
        message = migrate(request_type)
    except Exception as exc:
        logger.exception("migration failed")
        stream = getattr(context, "log_stream_name", "")
        reason = f"{type(exc).__name__}: {exc} (log stream {stream})"
        send_response(event, context, "FAILED", reason, {})
        return
    logger.info(message, extra={"request_type": request_type})
    send_response(event, context, "SUCCESS", message, {"Message": message})
