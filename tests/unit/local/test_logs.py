"""The local stack's own log lines stay one event per line, whatever a message carries."""

from __future__ import annotations

import logging

from local.logs import FORMAT, OneLineFormatter

FORGED = '\r\n2026-01-01 00:00:00,000 local INFO {"forged": true}\n'


def format_(message: str, *args: object, exc_info: bool = False) -> str:
    record = logging.LogRecord("local", logging.ERROR, __file__, 1, message, args, None)
    if exc_info:
        try:
            raise ValueError(FORGED)
        except ValueError as exc:
            record.exc_info = (type(exc), exc, exc.__traceback__)
    return OneLineFormatter(FORMAT).format(record)


def test_request_data_with_line_breaks_stays_on_its_line() -> None:
    line = format_("no prediction %s", f"x{FORGED}")
    assert "\n" not in line and "\r" not in line
    assert line.endswith('\\r\\n2026-01-01 00:00:00,000 local INFO {"forged": true}\\n')


def test_a_traceback_is_part_of_its_event() -> None:
    line = format_("failed", exc_info=True)
    assert "\n" not in line
    assert "Traceback (most recent call last):" in line


def test_a_json_message_stays_json() -> None:
    message = '{"path":"/x\\r\\n{\\"level\\":\\"INFO\\"}"}'
    assert format_("%s", message).endswith(message)
