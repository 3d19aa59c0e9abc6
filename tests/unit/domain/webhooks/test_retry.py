"""The webhook retry schedule: five tries over about an hour, then the dead-letter queue."""

from __future__ import annotations

import pytest
from dogdetect.config import Settings
from dogdetect.domain.webhooks.retry import DEFAULT_RETRY_DELAYS, parse_delays, retry_delay
from pydantic import ValidationError

MAX_TRIES = 5  # the notifications queue's maxReceiveCount (tests/infra checks the template)


def test_the_default_schedule_spreads_five_tries_over_about_an_hour() -> None:
    delays = parse_delays(DEFAULT_RETRY_DELAYS)
    waits = [retry_delay(attempt, delays, MAX_TRIES) for attempt in range(1, MAX_TRIES + 1)]
    assert waits == [60, 300, 900, 2400, 0]
    tries_at = [sum(waits[:n]) for n in range(MAX_TRIES)]
    assert tries_at == [0, 60, 360, 1260, 3660]  # the fifth about an hour after the first
    assert waits == [*sorted(waits[:-1]), 0]  # backing off, then dead-lettered at once


def test_a_schedule_shorter_than_the_tries_repeats_its_last_delay() -> None:
    assert [retry_delay(a, (3,), MAX_TRIES) for a in range(1, 6)] == [3, 3, 3, 3, 0]


def test_after_the_last_try_the_message_is_not_hidden_again() -> None:
    assert retry_delay(MAX_TRIES, (60, 300), MAX_TRIES) == 0
    assert retry_delay(MAX_TRIES + 3, (60, 300), MAX_TRIES) == 0  # received again somehow


@pytest.mark.parametrize("text", ["", "a,b", "60,-1", "60,43201", ",,"])
def test_a_malformed_schedule_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_delays(text)


def test_the_setting_is_checked_when_read() -> None:
    assert Settings(webhook_retry_delays="3, 3").webhook_retry_schedule == (3, 3)
    with pytest.raises(ValidationError):
        Settings(webhook_retry_delays="soon")
