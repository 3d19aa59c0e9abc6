"""How figures are written in docs/benchmarks.md; "n/a" for a figure this run did not measure."""

from __future__ import annotations

import math

NOT_MEASURED = "n/a"


def _missing(value: float | None) -> bool:
    return value is None or math.isnan(value)


def ms(seconds: float | None) -> str:
    return NOT_MEASURED if _missing(seconds) else f"{seconds * 1000:,.0f} ms"


def secs(seconds: float | None) -> str:
    return NOT_MEASURED if _missing(seconds) else f"{seconds:.2f} s"


def mb(n_bytes: float | None) -> str:
    return NOT_MEASURED if _missing(n_bytes) else f"{n_bytes / 1e6:,.0f} MB"


def megabytes(n_mb: float | None) -> str:
    return NOT_MEASURED if _missing(n_mb) else f"{n_mb:,.0f} MB"


def ips(per_second: float | None) -> str:
    return NOT_MEASURED if _missing(per_second) else f"{per_second:.1f} img/s"


def times(ratio: float | None) -> str:
    return NOT_MEASURED if _missing(ratio) else f"{ratio:.2f}x"


def usd(amount: float | None) -> str:
    return NOT_MEASURED if _missing(amount) else f"${amount:.4f}"
