"""Answering CloudFormation for a custom resource. `cfnresponse` exists only for inline
(ZipFile) functions, so the answer is a plain HTTPS PUT of a JSON document to the
pre-signed ResponseURL."""

from __future__ import annotations

import json
import urllib.request
from typing import Any
from urllib.parse import urlparse

_MAX_REASON = 1000  # the whole response must stay under CloudFormation's 4 KB


def response_body(
    event: dict[str, Any], status: str, reason: str, physical_id: str, data: dict[str, str]
) -> bytes:
    return json.dumps(
        {
            "Status": status,
            "Reason": reason[:_MAX_REASON],
            "PhysicalResourceId": event.get("PhysicalResourceId") or physical_id,
            # .get: an event missing a key still gets an answer, which names the problem
            "StackId": event.get("StackId", ""),
            "RequestId": event.get("RequestId", ""),
            "LogicalResourceId": event.get("LogicalResourceId", ""),
            "NoEcho": False,
            "Data": data,
        }
    ).encode()


def put_response(url: str, body: bytes, timeout: float = 5.0) -> int:
    """PUT the answer; returns the HTTP status. Only https: the URL comes from the event."""
    if urlparse(url).scheme != "https":
        raise ValueError("ResponseURL must be https")
    request = urllib.request.Request(  # noqa: S310 - https only, checked above
        url, data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    # https only, checked above (bandit B310, ruff S310)
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  # nosec B310
        status: int = response.status
        return status
