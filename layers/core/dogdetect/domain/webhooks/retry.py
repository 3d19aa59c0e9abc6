"""How long a failed webhook waits before its next try. The notifications queue delivers a
message at most `maxReceiveCount` times (5); after each failed try the message is hidden for
the next delay of the schedule, and after the last one it is dead-lettered at once."""

from __future__ import annotations

# After tries 1, 2, 3 and 4: the fifth try comes about an hour after the first
# (1 + 5 + 15 + 40 minutes). The local test stack shortens it (WEBHOOK_RETRY_DELAYS).
DEFAULT_RETRY_DELAYS = "60,300,900,2400"
MAX_VISIBILITY_TIMEOUT = 43_200  # SQS's limit for ChangeMessageVisibility (12 hours)


def parse_delays(text: str) -> tuple[int, ...]:
    """`"60,300"` -> (60, 300); each 0..12 h, at least one."""
    try:
        delays = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise ValueError(f"retry delays are whole seconds, comma-separated: {text!r}") from exc
    if not delays or not all(0 <= d <= MAX_VISIBILITY_TIMEOUT for d in delays):
        raise ValueError(f"retry delays must be 0..{MAX_VISIBILITY_TIMEOUT} seconds: {text!r}")
    return delays


def retry_delay(attempt: int, delays: tuple[int, ...], max_attempts: int) -> int:
    """Seconds to hide a message whose try number `attempt` (1-based) failed: the schedule's
    delay, its last one past its end, and 0 after the last try (to the dead-letter queue now)."""
    if attempt >= max_attempts:
        return 0
    return delays[min(attempt, len(delays)) - 1]
