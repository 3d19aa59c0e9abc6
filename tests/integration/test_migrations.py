"""Schema migrations on a database of their own in the stack's PostgreSQL, as its superuser (the
master user in the cloud): from empty to head, again as a no-op, and a rollback's older code
leaving a newer schema alone (and still setting up the runtime functions' role)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from dogdetect.runtime.migrate import (
    NEWER,
    UPGRADED,
    AppRole,
    current_revision,
    migrate,
    upgrade_unless_newer,
)
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@pytest.fixture
def empty_database(master_database_url: str) -> Iterator[str]:
    name = f"migrations_{uuid.uuid4().hex[:8]}"
    admin = create_engine(master_database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(master_database_url).set(database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_empty_database_goes_to_head_and_stays(empty_database: str) -> None:
    assert current_revision(empty_database) is None
    assert upgrade_unless_newer(empty_database) == UPGRADED
    head = current_revision(empty_database)
    assert head is not None
    assert upgrade_unless_newer(empty_database) == UPGRADED
    assert current_revision(empty_database) == head


def test_a_newer_schema_is_left_as_it_is(empty_database: str) -> None:
    upgrade_unless_newer(empty_database)
    engine = create_engine(empty_database)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    engine.dispose()
    assert upgrade_unless_newer(empty_database) == NEWER
    assert current_revision(empty_database) == "9999_from_the_future"


def test_a_newer_schema_still_gets_the_app_role(empty_database: str) -> None:
    upgrade_unless_newer(empty_database)
    engine = create_engine(empty_database, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    role = AppRole(f"app_{uuid.uuid4().hex[:8]}", "secret")
    try:
        assert migrate(empty_database, role) == NEWER
        with engine.connect() as connection:
            allowed = connection.scalar(
                text("SELECT has_table_privilege(:r, 'predictions', 'INSERT')"), {"r": role.name}
            )
        assert allowed
    finally:
        with engine.connect() as connection:
            connection.execute(text(f"DROP OWNED BY {role.name}"))
            connection.execute(text(f"DROP ROLE {role.name}"))
        engine.dispose()
