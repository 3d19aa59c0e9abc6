"""Wait claims in PostgreSQL: how many requests each client, and everyone, has held by
`Prefer: wait` at this moment, across every execution environment. One short transaction per
claim, serialized by a table lock (the count and the insert must agree); a claim of an
execution killed while holding it lapses at its `expires_at`."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, text

from dogdetect.adapters.postgres.engine import database_errors
from dogdetect.domain.models import WaitHold

_LOCK = text("LOCK TABLE wait_claims IN EXCLUSIVE MODE")  # readers go on; claims queue
_LAPSE = text("DELETE FROM wait_claims WHERE expires_at < now()")
_COUNT = text("SELECT count(*) FILTER (WHERE client = :client), count(*) FROM wait_claims")
_CLAIM = text(
    "INSERT INTO wait_claims (id, client, expires_at)"
    " VALUES (:id, :client, now() + make_interval(secs => :seconds))"
)
_RELEASE = text("DELETE FROM wait_claims WHERE id = :id")


class PostgresWaitSlots:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def hold(self, client: str, seconds: float, per_client: int, total: int) -> WaitHold:
        with database_errors(), self._engine.begin() as connection:
            connection.execute(_LOCK)
            connection.execute(_LAPSE)
            mine, everyone = connection.execute(_COUNT, {"client": client}).one()
            if mine >= per_client:
                return WaitHold(None, "client")
            if everyone >= total:
                return WaitHold(None, "service")
            hold_id = uuid.uuid4()
            params = {"id": hold_id, "client": client, "seconds": seconds}
            connection.execute(_CLAIM, params)
            return WaitHold(hold_id, None)

    def release(self, hold_id: uuid.UUID) -> None:
        with database_errors(), self._engine.begin() as connection:
            connection.execute(_RELEASE, {"id": hold_id})
