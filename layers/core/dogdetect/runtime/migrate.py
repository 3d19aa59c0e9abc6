"""Apply the Alembic migrations that ship inside this package, then set up the login role the
runtime functions use (used by `make local`, the tests and the deploy-time migration custom
resource). Only this connects as the master user; see `ensure_app_role`."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, pool, text
from sqlalchemy.engine import URL

from dogdetect.adapters.postgres.engine import tls_context
from dogdetect.adapters.postgres.tables import Base
from dogdetect.adapters.secrets import app_role_credentials, credentials_for, database_url
from dogdetect.config import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
UPGRADED = "schema upgraded to head"
NEWER = "schema is newer than this code; left as it is"
MIGRATION_LOCK_ID = 727_364_001  # any constant; pg_advisory_xact_lock key for this schema
CONNECT_TIMEOUT_SECONDS = 10.0


# What the runtime functions' role may do to a table, unless the table's `info` says less
# (`app_privileges`: idempotency keys are added and removed, never changed).
APP_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")


@dataclass(frozen=True)
class AppRole:
    """The runtime functions' login: DML on the tables the migrations own, nothing else."""

    name: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Limits:
    """Bounds on one migration run, so that it ends (and CloudFormation hears about it) before
    the Lambda function times out. `budget_seconds` None: no bound but the connect timeout."""

    budget_seconds: float | None = None
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS

    @property
    def server_settings(self) -> dict[str, str]:
        if self.budget_seconds is None:
            return {}
        milliseconds = str(max(1, int(self.budget_seconds * 1000)))
        # Each statement, each lock wait, and a transaction its client abandoned mid-way (the
        # function timed out) end on the server's side too.
        return dict.fromkeys(
            ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout"),
            milliseconds,
        )


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migration_engine(
    database_url: str | URL,
    tls: bool = False,
    ca_bundle: str | None = None,
    limits: Limits = Limits(),
) -> Engine:
    connect_args: dict[str, object] = {}
    if tls:
        connect_args["ssl_context"] = tls_context(ca_bundle)
    # hide_parameters: an error's text must never carry the role's password.
    engine = create_engine(
        database_url, poolclass=pool.NullPool, connect_args=connect_args, hide_parameters=True
    )

    @event.listens_for(engine, "do_connect")
    def _connect_quickly(dialect: Any, _record: object, args: Any, params: dict[str, Any]) -> Any:
        # pg8000 has one timeout for connecting and for every read: an unreachable server must
        # fail fast, a long migration step must not. So the socket is made here.
        sock = socket.create_connection(
            (params.get("host", "localhost"), params.get("port", 5432)),
            timeout=limits.connect_timeout,
        )
        sock.settimeout(limits.budget_seconds)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        try:
            return dialect.loaded_dbapi.Connection(*args, sock=sock, **params)
        except BaseException:
            sock.close()
            raise

    if limits.server_settings:

        @event.listens_for(engine, "connect")
        def _bound(dbapi_connection: Any, _record: object) -> None:
            cursor = dbapi_connection.cursor()
            for name, value in limits.server_settings.items():
                cursor.execute("SELECT set_config(%s, %s, false)", (name, value))
            dbapi_connection.commit()

    return engine


@contextmanager
def connected(
    database_url: str | URL,
    tls: bool = False,
    ca_bundle: str | None = None,
    limits: Limits = Limits(),
) -> Iterator[Connection]:
    engine = migration_engine(database_url, tls, ca_bundle, limits)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def _current(connection: Connection) -> str | None:
    revision: str | None = MigrationContext.configure(connection).get_current_revision()
    connection.commit()
    return revision


def _upgrade(connection: Connection, revision: str = "head") -> None:
    config = alembic_config()
    config.attributes["connection"] = connection  # migrations/env.py runs on it
    command.upgrade(config, revision)
    connection.commit()


def _upgrade_unless_newer(connection: Connection) -> str:
    current = _current(connection)
    known = {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if current is not None and current not in known:
        return NEWER
    _upgrade(connection)
    return UPGRADED


def upgrade(database_url: str | URL, revision: str = "head", tls: bool = False) -> None:
    with connected(database_url, tls) as connection:
        _upgrade(connection, revision)


def current_revision(database_url: str | URL, tls: bool = False) -> str | None:
    with connected(database_url, tls) as connection:
        return _current(connection)


def upgrade_unless_newer(database_url: str | URL, tls: bool = False) -> str:
    """Upgrade to head, unless the database carries a revision this code does not know: a
    rollback deploys older code onto a newer schema, which it must leave as it is (migrations
    are additive, so the old code runs on it)."""
    with connected(database_url, tls) as connection:
        return _upgrade_unless_newer(connection)


def migrate(
    database_url: str | URL,
    app_role: AppRole | None,
    *,
    tls: bool = False,
    ca_bundle: str | None = None,
    limits: Limits = Limits(),
) -> str:
    """Everything a deploy (or `make local`) does to the database, as the master user, on one
    connection: the schema unless it is newer, then the runtime functions' role."""
    with connected(database_url, tls, ca_bundle, limits) as connection:
        outcome = _upgrade_unless_newer(connection)
        if app_role is not None:
            ensure_app_role(connection, app_role)
    return outcome


# The role's name, password and grants arrive as transaction-local settings read inside the
# block (bind parameters, never text of a statement), and every identifier and literal is
# quoted on the server by format(%I, %L); privileges, which cannot be quoted, are checked
# against APP_PRIVILEGES on both sides. A failing CREATE/ALTER ROLE is raised again without
# its statement, which holds the password, as the error's context.
_ROLE_INPUT = text(
    "SELECT set_config('dogdetect.app_role', :name, true),"
    " set_config('dogdetect.app_password', :password, true),"
    " set_config('dogdetect.app_grants', :grants, true)"
)
_ENSURE_ROLE = """
DO $ensure$
DECLARE
    app text := current_setting('dogdetect.app_role');
    -- table:PRIVILEGE,PRIVILEGE;table:...
    grants text[] := string_to_array(current_setting('dogdetect.app_grants'), ';');
    owned text[] := ARRAY(SELECT split_part(g, ':', 1) FROM unnest(grants) g);
    db text := current_database();
    item text;
    rights text[];
BEGIN
    BEGIN
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = app) THEN
            EXECUTE format('ALTER ROLE %I WITH LOGIN PASSWORD %L',
                           app, current_setting('dogdetect.app_password'));
        ELSE
            EXECUTE format('CREATE ROLE %I WITH LOGIN PASSWORD %L',
                           app, current_setting('dogdetect.app_password'));
        END IF;
    EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION USING ERRCODE = SQLSTATE, MESSAGE = SQLERRM;
    END;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = app AND (rolsuper OR rolcreatedb
               OR rolcreaterole OR rolreplication OR rolbypassrls)) THEN
        EXECUTE format('ALTER ROLE %I NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION'
                       ' NOBYPASSRLS', app);
    END IF;
    -- nothing inherited from other roles
    FOR item IN SELECT g.rolname FROM pg_auth_members m
                JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member
                WHERE r.rolname = app LOOP
        EXECUTE format('REVOKE %I FROM %I', item, app);
    END LOOP;
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM %I', db, app);
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', db, app);
    EXECUTE format('REVOKE ALL ON SCHEMA public FROM %I', app);
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', app);
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA public FROM %I', app);
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM %I', app);
    FOREACH item IN ARRAY grants LOOP
        rights := string_to_array(split_part(item, ':', 2), ',');
        IF cardinality(rights) = 0
           OR NOT rights <@ ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE'] THEN
            RAISE EXCEPTION 'not a privilege the role may hold: %', item;
        END IF;
        EXECUTE format('GRANT %s ON TABLE public.%I TO %I',
                       array_to_string(rights, ', '), split_part(item, ':', 1), app);
    END LOOP;
    FOR item IN SELECT s.relname FROM pg_class s
                JOIN pg_namespace n ON n.oid = s.relnamespace
                JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
                    AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
                JOIN pg_class t ON t.oid = d.refobjid
                WHERE s.relkind = 'S' AND n.nspname = 'public' AND t.relname = ANY (owned) LOOP
        EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE public.%I TO %I', item, app);
    END LOOP;
    -- Before PostgreSQL 15 every role may create in schema public, and every role may create
    -- temporary tables: both through PUBLIC, which no revoke from the role itself takes away.
    IF has_schema_privilege(app, 'public', 'CREATE') THEN
        REVOKE CREATE ON SCHEMA public FROM PUBLIC;
    END IF;
    IF has_database_privilege(app, db, 'TEMPORARY') THEN
        EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', db);
    END IF;
    -- Check what the statements above cannot guarantee (a revoke that was not ours to make).
    IF has_schema_privilege(app, 'public', 'CREATE') OR has_database_privilege(app, db, 'CREATE')
    THEN
        RAISE EXCEPTION 'role % can still create objects in database %', app, db;
    END IF;
    IF has_database_privilege(app, db, 'TEMPORARY') THEN  -- session scratch only: a warning
        RAISE WARNING 'role % can create temporary tables (PUBLIC may, in database %)', app, db;
    END IF;
    IF EXISTS (SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND (c.relowner = (SELECT oid FROM pg_roles
                                                              WHERE rolname = app)
                   OR (c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relname = ANY (owned)
                       AND has_table_privilege(app, c.oid, 'SELECT, INSERT, UPDATE, DELETE,'
                                               ' TRUNCATE, REFERENCES, TRIGGER')))) THEN
        RAISE EXCEPTION 'role % owns, or reaches, more than the tables %', app, owned;
    END IF;
END
$ensure$
"""


def ensure_app_role(connection: Connection, role: AppRole) -> None:
    """Create or update the runtime functions' login role with exactly SELECT, INSERT, UPDATE
    and DELETE on the tables the migrations own (less where a table says so, `app_grants`), and
    their sequences: no DDL, no CREATE, no alembic_version. Idempotent; run on every
    migration, under the migration lock."""
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_ID})
    connection.execute(
        _ROLE_INPUT, {"name": role.name, "password": role.password, "grants": app_grants()}
    )
    connection.exec_driver_sql(_ENSURE_ROLE)
    connection.commit()


def app_grants() -> str:
    """`table:PRIVILEGE,...;table:...` for every table the migrations own."""
    grants = []
    for name, table in sorted(Base.metadata.tables.items()):
        privileges = table.info.get("app_privileges", APP_PRIVILEGES)
        if not privileges or not set(privileges) <= set(APP_PRIVILEGES):
            raise ValueError(f"{name}: the role may hold only {APP_PRIVILEGES}, not {privileges}")
        grants.append(f"{name}:{','.join(privileges)}")
    return ";".join(grants)


def migrate_from_settings(settings: Settings, limits: Limits, secrets_client: Any = None) -> str:
    """The custom resource's migration: the master login from DATABASE_SECRET_ARN (or
    DATABASE_URL), the runtime role's from APP_DATABASE_SECRET_ARN (or APP_DATABASE_USER and
    APP_DATABASE_PASSWORD)."""
    name, password = app_role_credentials(settings, secrets_client)
    master = database_url(settings, credentials_for(settings, secrets_client))
    return migrate(
        master,
        AppRole(name, password),
        tls=settings.database_tls,
        ca_bundle=settings.database_ca_bundle,
        limits=limits,
    )


if __name__ == "__main__":
    upgrade(sys.argv[1] if len(sys.argv) > 1 else Settings().database_url)
