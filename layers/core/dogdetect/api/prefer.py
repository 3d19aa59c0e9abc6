"""The `wait` preference of a Prefer header (RFC 7240): how long a client is willing to wait
for an answer. Anything this module cannot read is ignored, as RFC 7240 says of preferences
a server does not understand: a malformed header never refuses a request."""

from __future__ import annotations

import re

from dogdetect.domain.limits import MAX_WAIT_SECONDS

_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_WORD = rf"(?:{_TCHARS}|{_QUOTED})"
_OWS = r"[ \t]*"
_PARAMETER = rf"{_TCHARS}(?:{_OWS}={_OWS}{_WORD})?"
# preference = token [ BWS "=" BWS word ] *( OWS ";" [ OWS parameter ] )
_PREFERENCE = re.compile(
    rf"{_OWS}(?P<name>{_TCHARS})(?:{_OWS}={_OWS}(?P<value>{_WORD}))?"
    rf"(?:{_OWS};(?:{_OWS}{_PARAMETER})?)*{_OWS}"
)
_ELEMENT = re.compile(rf'(?:{_QUOTED}|[^,"])*')  # up to the next comma outside quotes
_DELTA_SECONDS = re.compile(r"[0-9]+")


def requested_wait(prefer: str | None) -> int | None:
    """Seconds to wait, 1..MAX_WAIT_SECONDS (more is clamped), or None: no usable `wait`. Of
    repeated preferences only the first counts (RFC 7240, section 2)."""
    for name, value in _preferences(prefer or ""):
        if name.lower() == "wait":
            return _seconds(value)
    return None


def _preferences(header: str) -> list[tuple[str, str | None]]:
    found = []
    for element in _ELEMENT.findall(header):
        match = _PREFERENCE.fullmatch(element)
        if match is not None:  # a malformed element is skipped, the others still count
            found.append((match["name"], match["value"]))
    return found


def _seconds(value: str | None) -> int | None:
    if value is not None and value.startswith('"'):
        value = value[1:-1]
    if value is None or not _DELTA_SECONDS.fullmatch(value):
        return None
    # A long run of digits is clamped without making an int of it.
    seconds = MAX_WAIT_SECONDS if len(value.lstrip("0")) > 3 else int(value)
    return min(seconds, MAX_WAIT_SECONDS) if seconds > 0 else None
