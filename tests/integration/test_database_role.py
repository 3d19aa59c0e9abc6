"""The runtime functions' database role (`dogdetect.runtime.migrate.ensure_app_role`) on the local
stack: the functions' DATABASE_URL logs in as it; it reads and writes predictions and
detections and can change nothing else; each migration takes away what was added to it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from dogdetect.adapters.postgres import PostgresPredictionRepository
from dogdetect.config import Settings
from dogdetect.domain.models import Box, Detection, FinishedPrediction, Status
from dogdetect.runtime.migrate import AppRole, migrate
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from local.launcher import RunningStack

INSUFFICIENT_PRIVILEGE = "42501"
DOG = Detection("dog", 0.9, Box(1.0, 2.0, 3.0, 4.0))


@pytest.fixture(scope="module")
def function_connection(stack: RunningStack) -> Iterator[Connection]:
    """A connection as a function makes it: the stack's DATABASE_URL (each statement its own
    transaction: CREATE DATABASE refuses to run in one)."""
    engine = create_engine(stack.environment["DATABASE_URL"], isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def test_the_functions_log_in_as_the_app_role(
    stack: RunningStack, master_database_url: str, function_connection: Connection
) -> None:
    app, master = make_url(stack.environment["DATABASE_URL"]), make_url(master_database_url)
    assert app.username == "dogdetect_app" and app.password  # a fresh one on each start
    assert master.username != app.username
    row = function_connection.execute(
        text(
            "SELECT current_user, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls,"
            " rolreplication FROM pg_roles WHERE rolname = current_user"
        )
    ).one()
    assert tuple(row) == ("dogdetect_app", False, False, False, False, False)


def test_the_app_role_reads_and_writes_predictions_and_detections(
    repository: PostgresPredictionRepository,
    stack_settings: Settings,
    function_connection: Connection,
) -> None:
    assert make_url(stack_settings.database_url).username == "dogdetect_app"  # `repository`'s
    prediction_id = uuid.uuid4()
    repository.add_pending(prediction_id, f"uploads/{prediction_id}")  # INSERT
    repository.mark_enqueued(prediction_id)  # UPDATE
    assert set(repository.start_processing_many([prediction_id])) == {prediction_id}
    # INSERT INTO detections: the sequence
    assert repository.finish_many([FinishedPrediction(prediction_id, True, (DOG,))])
    done = repository.get(prediction_id)  # SELECT
    assert done is not None and done.status is Status.DONE and done.detections == (DOG,)
    function_connection.execute(
        text("DELETE FROM detections WHERE prediction_id = :id"), {"id": prediction_id}
    )
    repository.remove(prediction_id)  # DELETE
    assert repository.get(prediction_id) is None


FORBIDDEN = {
    "drop a table": "DROP TABLE detections",
    "alter a table": "ALTER TABLE predictions ADD COLUMN extra integer",
    "create a table": "CREATE TABLE intruder (x integer)",
    "create a temporary table": "CREATE TEMPORARY TABLE scratch (x integer)",
    "create an index": "CREATE INDEX ix_intruder ON predictions (image_key)",
    "create a function": "CREATE FUNCTION public.f() RETURNS integer LANGUAGE sql AS 'SELECT 1'",
    "create a schema": "CREATE SCHEMA intruder",
    "truncate a table": "TRUNCATE predictions",
    "change an idempotency key": "UPDATE idempotency_keys SET created_at = now()",
    "read alembic_version": "SELECT version_num FROM alembic_version",
    "change alembic_version": "UPDATE alembic_version SET version_num = '0000'",
    "empty alembic_version": "DELETE FROM alembic_version",
    "drop alembic_version": "DROP TABLE alembic_version",
    "reset a sequence": "SELECT setval('detections_id_seq', 1)",
    "create a role": "CREATE ROLE intruder",
    "create a database": "CREATE DATABASE intruder",
}


@pytest.mark.parametrize("statement", FORBIDDEN.values(), ids=FORBIDDEN.keys())
def test_the_app_role_cannot(function_connection: Connection, statement: str) -> None:
    with pytest.raises(DBAPIError) as raised:
        function_connection.execute(text(statement))
    assert raised.value.orig.args[0]["C"] == INSUFFICIENT_PRIVILEGE, raised.value  # type: ignore[union-attr]


# -- ensure_app_role on a database and a role of the test's own --------------------------------


@dataclass(frozen=True)
class Own:
    url: str  # the master's, on the test's database
    role: AppRole


@pytest.fixture
def own(master_database_url: str) -> Iterator[Own]:
    suffix = uuid.uuid4().hex[:8]
    database = f"roles_{suffix}"
    # A name that needs quoting; and a password that would break any string concatenation.
    role = AppRole(f'App "{suffix}" Role', "it's \\ $$ %L; DROP ROLE postgres; --")
    admin = create_engine(master_database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    url = make_url(master_database_url).set(database=database)
    yield Own(url.render_as_string(hide_password=False), role)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{database}" WITH (FORCE)'))
        exists = connection.scalar(
            text("SELECT count(*) FROM pg_roles WHERE rolname = :name"), {"name": role.name}
        )
        if exists:
            quoted = connection.dialect.identifier_preparer.quote(role.name)
            connection.execute(text(f"DROP ROLE {quoted}"))
    admin.dispose()


def privileges(url: str, role: str) -> dict[str, object]:
    """What `role` may do, as the superuser sees it."""
    checks = {
        "predictions": "SELECT string_agg(p, ',' ORDER BY p) FROM unnest(ARRAY['SELECT',"
        " 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p"
        " WHERE has_table_privilege(:role, 'predictions', p)",
        "idempotency_keys": "SELECT string_agg(p, ',' ORDER BY p) FROM unnest(ARRAY['SELECT',"
        " 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p"
        " WHERE has_table_privilege(:role, 'idempotency_keys', p)",
        "alembic_version": "SELECT has_table_privilege(:role, 'alembic_version',"
        " 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')",
        "sequence": "SELECT string_agg(p, ',' ORDER BY p) FROM unnest(ARRAY['USAGE', 'SELECT',"
        " 'UPDATE']) p WHERE has_sequence_privilege(:role, 'detections_id_seq', p)",
        "create in schema": "SELECT has_schema_privilege(:role, 'public', 'CREATE')",
        "create in database": "SELECT has_database_privilege(:role, current_database(),"
        " 'CREATE, TEMPORARY')",
        "attributes": "SELECT rolsuper OR rolcreatedb OR rolcreaterole OR rolbypassrls"
        " OR NOT rolcanlogin FROM pg_roles WHERE rolname = :role",
        "member of": "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r"
        " ON r.oid = m.member WHERE r.rolname = :role",
    }
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {k: connection.scalar(text(q), {"role": role}) for k, q in checks.items()}
    finally:
        engine.dispose()


EXACTLY = {
    "predictions": "DELETE,INSERT,SELECT,UPDATE",
    "idempotency_keys": "DELETE,INSERT,SELECT",  # a key is never changed, only replaced
    "alembic_version": False,
    "sequence": "SELECT,USAGE",
    "create in schema": False,
    "create in database": False,
    "attributes": False,
    "member of": 0,
}


def test_the_migration_creates_the_role_with_exactly_its_privileges(own: Own) -> None:
    migrate(own.url, own.role)
    assert privileges(own.url, own.role.name) == EXACTLY


def test_each_migration_takes_away_what_was_added(own: Own) -> None:
    migrate(own.url, own.role)
    engine = create_engine(own.url, isolation_level="AUTOCOMMIT")
    name = engine.dialect.identifier_preparer.quote(own.role.name)
    database = make_url(own.url).database
    with engine.connect() as connection:
        for grant in (
            f"GRANT ALL ON alembic_version TO {name}",
            f"GRANT TRUNCATE, TRIGGER ON predictions TO {name}",
            f"GRANT UPDATE ON idempotency_keys TO {name}",
            f"GRANT UPDATE ON SEQUENCE detections_id_seq TO {name}",
            f"GRANT CREATE ON SCHEMA public TO {name}",
            f'GRANT CREATE, TEMPORARY ON DATABASE "{database}" TO {name}',
            f"ALTER ROLE {name} CREATEDB CREATEROLE",
            f"GRANT pg_write_all_data TO {name}",
            "GRANT CREATE ON SCHEMA public TO PUBLIC",  # as before PostgreSQL 15
        ):
            connection.execute(text(grant))
    engine.dispose()
    assert privileges(own.url, own.role.name) != EXACTLY

    migrate(own.url, own.role)
    assert privileges(own.url, own.role.name) == EXACTLY


def test_a_failing_role_statement_never_shows_the_password(own: Own, stack: RunningStack) -> None:
    secret = f"never-show-{uuid.uuid4().hex}"
    with pytest.raises(DBAPIError) as raised:
        migrate(own.url, AppRole("", secret))  # "" is no name: CREATE ROLE fails
    failure = repr(raised.value.orig.args) + str(raised.value)  # what a log or Reason shows
    assert "zero-length" in failure
    assert secret not in failure
    server_log = (stack.state_dir / "postgres" / "postgres.log").read_text(errors="replace")
    assert secret not in server_log
