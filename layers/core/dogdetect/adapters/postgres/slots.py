"""Slots in PostgreSQL: how many claims on one pool of bounded work (the requests held by
`Prefer: wait`; the annotated photos being drawn) each client, and everyone, holds at this
moment, across every execution environment. One short transaction per claim, serialized by a
table lock (the count and the insert must agree); a claim of an execution killed while
holding it lapses at its `expires_at`."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, text

from dogdetect.adapters.postgres.engine import database_errors
from dogdetect.domain.models import SlotHold

_LOCK = text("LOCK TABLE slot_claims IN EXCLUSIVE MODE")  # readers go on; claims queue
_LAPSE = text("DELETE FROM slot_claims WHERE expires_at < now()")
_COUNT = text(
    "SELECT count(*) FILTER (WHERE client = :client), count(*) FROM slot_claims WHERE pool = :pool"
)
_CLAIM = text(
    "INSERT INTO slot_claims (id, pool, client, expires_at)"
    " VALUES (:id, :pool, :client, now() + make_interval(secs => :seconds))"
)
_RELEASE = text("DELETE FROM slot_claims WHERE id = :id")

WAITS = "wait"
DRAWINGS = "drawing"


class PostgresSlots:
    """The claims of one pool (`WAITS`, `DRAWINGS`): pools are counted apart."""

    def __init__(self, engine: Engine, pool: str) -> None:
        self._engine = engine
        self._pool = pool

    def hold(self, client: str, seconds: float, per_client: int, total: int) -> SlotHold:
        with database_errors(), self._engine.begin() as connection:
            connection.execute(_LOCK)
            connection.execute(_LAPSE)
            counted = {"client": client, "pool": self._pool}
            mine, everyone = connection.execute(_COUNT, counted).one()
            if mine >= per_client:
                return SlotHold(None, "client")
            if everyone >= total:
                return SlotHold(None, "service")
            hold_id = uuid.uuid4()
            connection.execute(_CLAIM, {**counted, "id": hold_id, "seconds": seconds})
            return SlotHold(hold_id, None)

    def release(self, hold_id: uuid.UUID) -> None:
        with database_errors(), self._engine.begin() as connection:
            connection.execute(_RELEASE, {"id": hold_id})
