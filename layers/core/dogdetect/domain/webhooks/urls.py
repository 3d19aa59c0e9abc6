"""Which webhook URLs a client may give: checked when the prediction is submitted (a clear 422,
nothing stored) and again before every delivery. Names are resolved only at delivery
(`dogdetect.adapters.webhook_sender`), where the addresses they give are checked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from dogdetect.domain.errors import InvalidWebhook
from dogdetect.domain.webhooks.addresses import parse_address, refusal, unwrapped

MAX_URL_CHARS = 2000
DEFAULT_PORTS = {"https": 443, "http": 80}
LOOPBACK_NAMES = frozenset({"localhost"})
_LABEL = r"(?!-)[a-z0-9_-]{1,63}(?<!-)"
_HOST_NAME = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
# What getaddrinfo would read as an IPv4 address in one of its old spellings (127.1, 0x7f.1,
# 2130706433): only the one canonical dotted-quad form is accepted as an address.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    scheme: str  # "https", or "http" to a loopback host when allowed
    host: str  # lowercase name or address, without brackets or a trailing dot
    port: int
    target: str  # the request target: path and query, "/" at least


def parse_webhook_url(url: str, allow_http_loopback: bool = False) -> WebhookTarget:
    """The URL's parts, or `InvalidWebhook` saying what is wrong. `allow_http_loopback` (the
    local stack's ALLOW_HTTP_WEBHOOKS) admits loopback hosts, over http too."""
    _check_characters(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidWebhook(f"the webhook URL cannot be read: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidWebhook("the webhook URL must start with https://")
    if "@" in parts.netloc:
        raise InvalidWebhook("the webhook URL must not contain a user name or password")
    if "#" in url:
        raise InvalidWebhook("the webhook URL must not have a fragment (#...)")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidWebhook("the webhook URL has no host")
    if port == 0:
        raise InvalidWebhook("the webhook URL's port must be 1 to 65535")
    loopback = _check_host(host, allow_http_loopback)
    if scheme == "http" and not (allow_http_loopback and loopback):
        raise InvalidWebhook(_plain_http_refusal(allow_http_loopback))
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    return WebhookTarget(url, scheme, host, port or DEFAULT_PORTS[scheme], target)


def validate_webhook_url(url: str, allow_http_loopback: bool = False) -> str:
    """`url` when a webhook may be registered for it; else `InvalidWebhook`."""
    return parse_webhook_url(url, allow_http_loopback).url


def _check_characters(url: str) -> None:
    if not url:
        raise InvalidWebhook("the webhook must be an https URL")
    if len(url) > MAX_URL_CHARS:
        raise InvalidWebhook(f"the webhook URL is longer than {MAX_URL_CHARS:,} characters")
    if not all("!" <= c <= "~" for c in url):
        raise InvalidWebhook(
            "the webhook URL must be ASCII without spaces or control characters "
            "(percent-encode the rest; an international domain name in its xn-- form)"
        )


def _check_host(host: str, allow_loopback: bool) -> bool:
    """Whether `host` is a loopback host; `InvalidWebhook` when it may never be one."""
    address = parse_address(host)
    if address is not None:
        reason = refusal(address, allow_loopback)
        if reason is not None:
            raise InvalidWebhook(f"the webhook URL's host is {reason}")
        return unwrapped(address).is_loopback
    if not _HOST_NAME.match(host) or _NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]):
        raise InvalidWebhook("the webhook URL's host is not a valid host name or IP address")
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        if not allow_loopback:
            raise InvalidWebhook("the webhook URL's host is a loopback address")
        return True
    return False


def _plain_http_refusal(allow_http_loopback: bool) -> str:
    if allow_http_loopback:
        return "plain http webhooks go only to 127.0.0.1, ::1 or localhost; use https"
    return "the webhook URL must start with https://"
