"""Which webhook URLs a client may give at submit (nothing is resolved there)."""

from __future__ import annotations

import pytest
from dogdetect.domain.errors import InvalidWebhook
from dogdetect.domain.webhooks.urls import MAX_URL_CHARS, parse_webhook_url, validate_webhook_url

ACCEPTED = [
    "https://hooks.example.com/dog",
    "https://hooks.example.com",
    "HTTPS://Hooks.Example.com/x",
    "https://hooks.example.com:8443/x?token=abc&x=1",
    "https://93.184.215.14/hook",
    "https://[2606:4700:4700::1111]/hook",
    "https://xn--bcher-kva.example/hook",  # an international name in its ASCII form
    "https://under_score.example.com/",
    "https://hooks.example.com./trailing-dot",
]
# url -> a word of the refusal's message
REFUSED = {
    "": "https URL",
    "hooks.example.com/x": "https://",
    "http://hooks.example.com/x": "https://",
    "ftp://hooks.example.com/x": "https://",
    "file:///etc/passwd": "https://",
    "gopher://hooks.example.com/": "https://",
    "javascript:alert(1)": "https://",
    "https://user:pass@hooks.example.com/": "user name",
    "https://user@hooks.example.com/": "user name",
    "https://hooks.example.com@evil.example/": "user name",
    "https://hooks.example.com/x#fragment": "fragment",
    "https:///no-host": "no host",
    "https://:443/x": "no host",
    "https://hooks.example.com:0/": "port",
    "https://hooks.example.com:99999/": "cannot be read",
    "https://hooks.example.com:https/": "cannot be read",
    "https://[::1/": "cannot be read",
    "https://hooks example.com/": "ASCII",
    "https://hooks.example.com/a b": "ASCII",
    "https://hooks.example.com/\r\nX-Injected: 1": "ASCII",
    "https://bücher.example/": "ASCII",
    "https://hooks.exa$mple.com/": "not a valid host",
    "https://-leading.example.com/": "not a valid host",
    "https://127.1/": "not a valid host",  # an old spelling getaddrinfo reads as 127.0.0.1
    "https://2130706433/": "not a valid host",
    "https://0x7f000001/": "not a valid host",
    "https://localhost/": "loopback",
    "https://api.localhost/": "loopback",
    "https://127.0.0.1/": "loopback",
    "https://[::1]/": "loopback",
    "https://10.1.2.3/": "private",
    "https://192.168.0.10:8443/": "private",
    "https://169.254.169.254/latest/meta-data/": "metadata",
    "https://[fd00:ec2::254]/": "metadata",
    "https://[::ffff:169.254.169.254]/": "metadata",
    "https://[::ffff:10.0.0.1]/": "private",
    "https://0.0.0.0/": "unspecified",
    "https://" + "a" * MAX_URL_CHARS + ".example/": "2,000",
}


@pytest.mark.parametrize("url", ACCEPTED)
def test_an_https_url_to_a_public_host_is_accepted(url: str) -> None:
    assert validate_webhook_url(url) == url


@pytest.mark.parametrize(("url", "named"), sorted(REFUSED.items()))
def test_anything_else_is_refused_saying_why(url: str, named: str) -> None:
    with pytest.raises(InvalidWebhook) as refused:
        validate_webhook_url(url)
    assert named in refused.value.detail


def test_the_longest_url_accepted_is_2000_characters() -> None:
    path = "x" * (MAX_URL_CHARS - len("https://hooks.example.com/"))
    assert len(validate_webhook_url(f"https://hooks.example.com/{path}")) == MAX_URL_CHARS
    with pytest.raises(InvalidWebhook, match="2,000"):
        validate_webhook_url(f"https://hooks.example.com/{path}x")


LOCAL_HTTP = [
    "http://127.0.0.1:8765/hook",
    "http://localhost:8765/hook",
    "http://[::1]:8765/hook",
    "https://127.0.0.1:8443/hook",
]


@pytest.mark.parametrize("url", LOCAL_HTTP)
def test_the_local_stack_allows_loopback_hosts_over_http(url: str) -> None:
    assert validate_webhook_url(url, allow_http_loopback=True) == url


@pytest.mark.parametrize("url", LOCAL_HTTP)
def test_without_the_local_setting_loopback_is_refused(url: str) -> None:
    with pytest.raises(InvalidWebhook):
        validate_webhook_url(url, allow_http_loopback=False)


@pytest.mark.parametrize(
    "url",
    ["http://hooks.example.com/", "http://93.184.215.14/", "http://10.0.0.1/", "http://0.0.0.0/"],
)
def test_the_local_setting_allows_plain_http_to_loopback_only(url: str) -> None:
    with pytest.raises(InvalidWebhook):
        validate_webhook_url(url, allow_http_loopback=True)


def test_the_parts_a_delivery_connects_with() -> None:
    target = parse_webhook_url("HTTPS://Hooks.Example.com.:8443/a/b?c=d")
    assert (target.scheme, target.host, target.port, target.target) == (
        "https",
        "hooks.example.com",
        8443,
        "/a/b?c=d",
    )
    assert parse_webhook_url("https://hooks.example.com").target == "/"
    assert parse_webhook_url("https://hooks.example.com").port == 443
    assert parse_webhook_url("http://[::1]/x", allow_http_loopback=True).port == 80
