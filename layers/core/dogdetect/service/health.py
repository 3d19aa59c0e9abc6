"""Health: does each dependency answer?"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

from dogdetect.domain.errors import DependencyUnavailable


def _answer(probe: Callable[[], None]) -> str:
    try:
        probe()
    except DependencyUnavailable:
        return "unavailable"
    return "ok"


def check_dependencies(probes: Mapping[str, Callable[[], None]]) -> dict[str, str]:
    """'ok' or 'unavailable' per dependency; raises nothing but a bug. The probes run at once,
    so a dependency that hangs costs its own timeout once, not one after another."""
    with ThreadPoolExecutor(len(probes) or 1) as pool:
        answers = {name: pool.submit(_answer, probe) for name, probe in probes.items()}
        return {name: answer.result() for name, answer in answers.items()}
