"""The local stack's own log lines (the functions log JSON through Powertools): one event per
line, whatever a message carries. Request data reaches messages (paths, headers in errors), and
a CR or LF in it must not start a line that looks like another event."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
# Libraries whose INFO lines say nothing a user acts on ("Found credentials in environment
# variables.", each migration step): their warnings and errors still show.
QUIET = ("botocore", "alembic")


class OneLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)  # the message, then any traceback
        # Only the line breaks: a message that is JSON already (the access log) stays JSON.
        return text.replace("\r", "\\r").replace("\n", "\\n")


def configure() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter(FORMAT))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
