"""Apply the Alembic migrations that ship inside this package (used by `make local`,
the tests and the deploy-time migration custom resource)."""

from __future__ import annotations

import ssl
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
UPGRADED = "schema upgraded to head"
NEWER = "schema is newer than this code; left as it is"


def _connect_args(tls: bool) -> dict[str, object]:
    return {"ssl_context": ssl.create_default_context()} if tls else {}


def alembic_config(database_url: str, tls: bool = False) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["connect_args"] = _connect_args(tls)
    return config


def upgrade(database_url: str, revision: str = "head", tls: bool = False) -> None:
    command.upgrade(alembic_config(database_url, tls), revision)


def current_revision(database_url: str, tls: bool = False) -> str | None:
    engine = create_engine(database_url, poolclass=pool.NullPool, connect_args=_connect_args(tls))
    try:
        with engine.connect() as connection:
            revision: str | None = MigrationContext.configure(connection).get_current_revision()
            return revision
    finally:
        engine.dispose()


def upgrade_unless_newer(database_url: str, tls: bool = False) -> str:
    """Upgrade to head, unless the database carries a revision this code does not know: a
    rollback deploys older code onto a newer schema, which it must leave as it is (migrations
    are additive, so the old code runs on it)."""
    current = current_revision(database_url, tls)
    known = {
        s.revision
        for s in ScriptDirectory.from_config(alembic_config(database_url)).walk_revisions()
    }
    if current is not None and current not in known:
        return NEWER
    upgrade(database_url, tls=tls)
    return UPGRADED


if __name__ == "__main__":
    from dogdetect.settings import Settings

    upgrade(sys.argv[1] if len(sys.argv) > 1 else Settings().database_url)
