"""The SSRF guard: which IP addresses a webhook may be delivered to. Only globally routable
unicast addresses; never a private, loopback (unless the local stack allows it), link-local,
metadata, multicast, reserved or unspecified one, nor any of those wrapped in an IPv6 form
(IPv4-mapped, 6to4, Teredo; NAT64's 64:ff9b::/96 is reserved as a whole)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance metadata services: EC2 (IPv4 and IPv6), ECS task metadata, Alibaba, Azure's wire
# server. The link-local and private rules already cover most; named here so the reason says so.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "fd00:ec2::254",
        "169.254.170.2",
        "100.100.100.200",
        "168.63.129.16",
    )
)


# Ranges never to be delivered to that some Python versions' tables miss (3.11 and 3.13 both
# call fec0::/10 and 3fff::/20 global): checked by name first, the same on every version.
NOT_ROUTABLE_NETWORKS = tuple(
    (ipaddress.ip_network(network), reason)
    for network, reason in (
        ("fec0::/10", "a deprecated site-local address"),  # RFC 3879
        ("3fff::/20", "a documentation address"),  # RFC 9637
        ("2001:db8::/32", "a documentation address"),  # RFC 3849
        ("5f00::/16", "an SRv6 segment identifier, not a host"),  # RFC 9602
        ("100::/64", "a discard-only address"),  # RFC 6666
    )
)


def parse_address(text: str) -> IPAddress | None:
    """The address `text` spells in its one canonical way (no `127.1`, no hex), or None."""
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def unwrapped(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it is: Python
    versions disagree on what the wrapper itself is (private in 3.11)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _embedded(address: IPAddress) -> Iterator[IPAddress]:
    """The address, and every IPv4 address an IPv6 form carries inside it."""
    address = unwrapped(address)
    yield address
    if isinstance(address, ipaddress.IPv6Address):
        if address.sixtofour is not None:
            yield address.sixtofour
        if address.teredo is not None:
            yield from address.teredo


def refusal(address: IPAddress, allow_loopback: bool = False) -> str | None:
    """Why a webhook must not be delivered to `address`, or None when it may."""
    for candidate in _embedded(address):
        reason = _refusal_of(candidate, allow_loopback)
        if reason is not None:
            return reason
    return None


def _refusal_of(address: IPAddress, allow_loopback: bool) -> str | None:
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    for network, reason in NOT_ROUTABLE_NETWORKS:
        if address in network:
            return reason
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return None if allow_loopback else "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private address"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:  # shared (100.64.0.0/10), documentation, benchmarking ...
        return "an address that is not publicly routable"
    return None
