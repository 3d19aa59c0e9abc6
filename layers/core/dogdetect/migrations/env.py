"""Alembic environment: online migrations only, with a lock so concurrent deploys serialize."""

from __future__ import annotations

from alembic import context
from dogdetect.adapters.tables import Base
from sqlalchemy import create_engine, pool, text

MIGRATION_LOCK_ID = 727_364_001  # any constant; pg_advisory_xact_lock key for this schema


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is required"
    connect_args = context.config.attributes.get("connect_args", {})
    engine = create_engine(url, poolclass=pool.NullPool, connect_args=connect_args)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata)
        with context.begin_transaction():
            connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})"))
            context.run_migrations()
    engine.dispose()


run_migrations_online()
