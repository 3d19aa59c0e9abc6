"""Alembic environment: online migrations only, on the connection `runtime.migrate` opens (TLS
and time limits set), with a lock so concurrent deploys serialize."""

from __future__ import annotations

from alembic import context
from dogdetect.adapters.postgres.tables import Base
from dogdetect.runtime.migrate import MIGRATION_LOCK_ID
from sqlalchemy import Connection, text


def run_migrations_online() -> None:
    connection: Connection | None = context.config.attributes.get("connection")
    assert connection is not None, "run through runtime.migrate, which passes it"
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_ID})
        context.run_migrations()


run_migrations_online()
