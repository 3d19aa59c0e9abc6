"""The SSRF guard's table: which resolved addresses a webhook may be delivered to."""

from __future__ import annotations

import ipaddress

import pytest
from dogdetect.domain.webhooks.addresses import refusal

PUBLIC = [
    "93.184.215.14",
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",  # IPv4-mapped: judged as the IPv4 address it is
]
# address -> what the refusal names
REFUSED = {
    "127.0.0.1": "loopback",
    "127.255.255.254": "loopback",
    "::1": "loopback",
    "::ffff:127.0.0.1": "loopback",  # IPv4-mapped loopback
    "10.0.0.1": "private",
    "172.16.5.4": "private",
    "192.168.1.1": "private",
    "::ffff:10.0.0.1": "private",  # IPv4-mapped private
    "::ffff:192.168.0.1": "private",
    "fd12:3456::1": "private",  # unique local
    "2002:a00:1::": "private",  # 6to4 wrapping 10.0.0.1
    "169.254.169.254": "metadata",  # EC2 instance metadata
    "fd00:ec2::254": "metadata",  # its IPv6 address
    "::ffff:169.254.169.254": "metadata",
    "169.254.170.2": "metadata",  # ECS task metadata
    "169.254.1.1": "link-local",
    "fe80::1": "link-local",
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "ff02::1": "multicast",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "100.64.0.1": "not publicly routable",  # carrier-grade NAT (shared address space)
    # Global by the ipaddress tables of 3.11 and 3.13, refused by ours (the probe's):
    "fec0::1": "site-local",  # deprecated site-local
    "fec0::a9fe:a9fe": "site-local",  # ... with the metadata address inside
    "feff:ffff::1": "site-local",
    "3fff::1": "documentation",  # RFC 9637
    "3fff:fff::1": "documentation",
    "2001:db8::1": "documentation",
    "5f00::1": "segment identifier",
    "100::1": "discard",
}
# Refused on every Python, for a reason its ipaddress module decides (3.13 reclassified some).
REFUSED_ANY_REASON = [
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "198.18.0.1",
    "64:ff9b::a00:1",  # NAT64 (of 10.0.0.1): the whole prefix is reserved
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
]


@pytest.mark.parametrize("address", PUBLIC)
def test_a_public_address_may_be_reached(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(("address", "named"), sorted(REFUSED.items()))
def test_a_non_public_address_is_refused_saying_why(address: str, named: str) -> None:
    reason = refusal(ipaddress.ip_address(address))
    assert reason is not None and named in reason


@pytest.mark.parametrize("address", REFUSED_ANY_REASON)
def test_reserved_and_documentation_addresses_are_refused(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
def test_loopback_is_allowed_only_when_the_local_stack_says_so(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_loopback=True) is None


@pytest.mark.parametrize("address", ["10.0.0.1", "169.254.169.254", "fd00:ec2::254", "0.0.0.0"])
def test_allowing_loopback_allows_nothing_else(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_loopback=True) is not None
