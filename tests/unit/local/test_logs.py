"""The local stack's own log lines stay one event per line, whatever a message carries."""

from __future__ import annotations

import logging

from local.logs import FORMAT, QUIET, OneLineFormatter, configure

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


def test_libraries_chatter_stays_off_the_console_and_their_warnings_do_not() -> None:
    """`make local`'s terminal: botocore's "Found credentials in environment variables." and
    alembic's migration steps are not for the user; their warnings are."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in (*QUIET, "local")}
    try:
        configure()
        assert not logging.getLogger("botocore.credentials").isEnabledFor(logging.INFO)
        assert not logging.getLogger("alembic.runtime.migration").isEnabledFor(logging.INFO)
        assert logging.getLogger("botocore.credentials").isEnabledFor(logging.WARNING)
        assert logging.getLogger("local.gateway.access").isEnabledFor(logging.INFO)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, saved in levels.items():
            logging.getLogger(name).setLevel(saved)
