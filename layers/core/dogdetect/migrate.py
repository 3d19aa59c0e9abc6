"""Apply the Alembic migrations that ship inside this package (used by `make local`,
the tests and the deploy-time migration custom resource)."""

from __future__ import annotations

import ssl
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head", tls: bool = False) -> None:
    config = alembic_config(database_url)
    if tls:
        config.attributes["connect_args"] = {"ssl_context": ssl.create_default_context()}
    command.upgrade(config, revision)


if __name__ == "__main__":
    from dogdetect.settings import Settings

    upgrade(sys.argv[1] if len(sys.argv) > 1 else Settings().database_url)
