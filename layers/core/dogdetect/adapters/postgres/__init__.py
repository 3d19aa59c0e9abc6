"""PostgreSQL behind the repository ports, one module per job: `engine` (connections, TLS,
the pool, advisory locks), `tables` (the ORM rows), `statements` (a batch's state changes),
`detections` (detections in and out), `idempotency` (the keyed insert and key expiry) and
`repository` (the adapter itself)."""

from dogdetect.adapters.postgres.engine import make_engine, tls_context
from dogdetect.adapters.postgres.repository import PostgresPredictionRepository

__all__ = ["PostgresPredictionRepository", "make_engine", "tls_context"]
