"""Statistics of measured runs: percentiles, medians, rates and ratios, NaN when there is
nothing to summarise (a figure not measured in this run), never an exception."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from typing import Any

NAN = float("nan")


def pct(values: Iterable[float], q: float) -> float:
    """The q-th percentile (0..100), linear between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return NAN
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: Iterable[float]) -> float:
    present = [v for v in values if not math.isnan(v)]
    return statistics.median(present) if present else NAN


def median_of(runs: Iterable[Mapping[str, Any]], key: str) -> float:
    """The median of one field over runs, skipping runs that lack it."""
    return median(float(r[key]) for r in runs if r.get(key) is not None)


def mean(values: Iterable[float]) -> float:
    present = list(values)
    return statistics.fmean(present) if present else NAN


def rate(count: float, seconds: float) -> float:
    """Items per second; NaN for a zero or unknown duration."""
    return count / seconds if seconds and not math.isnan(seconds) else NAN


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator and not math.isnan(denominator) else NAN


def known(value: float | None) -> bool:
    return value is not None and not math.isnan(value)
