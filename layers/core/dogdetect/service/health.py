"""Health: does each dependency answer?"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from dogdetect.errors import DependencyUnavailable


def check_dependencies(probes: Mapping[str, Callable[[], None]]) -> dict[str, str]:
    """'ok' or 'unavailable' per dependency; raises nothing."""
    checks = {}
    for name, probe in probes.items():
        try:
            probe()
            checks[name] = "ok"
        except DependencyUnavailable:
            checks[name] = "unavailable"
    return checks
