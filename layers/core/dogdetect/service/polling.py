"""Looking again at something another party will change (a prediction finishing, a photo
another request is drawing): soon at first, then less often, until a deadline."""

from __future__ import annotations

from collections.abc import Callable, Iterator

FIRST_DELAY_SECONDS = 0.1
MAX_DELAY_SECONDS = 0.5


def pauses(
    seconds: float, sleep: Callable[[float], None], clock: Callable[[], float]
) -> Iterator[None]:
    """Sleeps 0.1 s, 0.2 s, 0.4 s, then 0.5 s each, never past `seconds` from now (counted
    from this call); yields after each, so the caller looks again, until the time is up."""
    deadline = clock() + seconds

    def paced() -> Iterator[None]:
        delay = FIRST_DELAY_SECONDS
        while (remaining := deadline - clock()) > 0:
            sleep(min(delay, remaining))
            delay = min(delay * 2, MAX_DELAY_SECONDS)
            yield

    return paced()
