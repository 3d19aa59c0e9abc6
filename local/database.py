"""The local stack's database, as the cloud's: migrated as the superuser, and the functions given
a login of the least-privileged role the migration sets up, with a new password on each start."""

from __future__ import annotations

import secrets

from dogdetect.runtime.migrate import AppRole, migrate
from sqlalchemy.engine import make_url

APP_ROLE = "dogdetect_app"  # the template's AppDatabaseSecret username


def migrate_for_functions(master_url: str, role_name: str = APP_ROLE) -> str:
    """Migrate as `master_url`'s user, set up the runtime role, and return its URL."""
    role = AppRole(role_name, secrets.token_urlsafe(24))
    migrate(master_url, role)
    url = make_url(master_url).set(username=role.name, password=role.password)
    return url.render_as_string(hide_password=False)
