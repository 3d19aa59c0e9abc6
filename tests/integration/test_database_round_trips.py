"""Fewer round trips on the submit path and the status read (dogdetect/adapters/postgres/):
lone writes and a read of one prediction commit as they run, without a transaction of their
own; a pooled connection is pinged only after it sat idle, and one the server dropped
meanwhile is replaced before use."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from dogdetect.adapters.postgres import PostgresPredictionRepository, make_engine
from dogdetect.config import Settings
from dogdetect.domain.errors import DependencyUnavailable
from dogdetect.domain.models import Box, Detection, FinishedPrediction
from sqlalchemy import Engine, create_engine, event, text

from tests.conftest import eventually


@pytest.fixture
def engines() -> Iterator[list[Engine]]:
    made: list[Engine] = []
    yield made
    for engine in made:
        engine.dispose()


def repository_with(
    engines: list[Engine], url: str, idle_seconds: float
) -> tuple[PostgresPredictionRepository, Engine]:
    engine = make_engine(url, ping_after_idle_seconds=idle_seconds)
    engines.append(engine)
    return PostgresPredictionRepository(engine), engine


def drop_pooled_connection(engine: Engine, master_database_url: str) -> None:
    """The server ends the (only) pooled connection's session, as a failover or a proxy
    restart would, while it sits in the pool."""
    with engine.connect() as connection:
        pid = connection.scalar(text("SELECT pg_backend_pid()"))
    master = create_engine(master_database_url)
    try:
        with master.connect() as connection:
            assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            gone = text("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = :pid")
            eventually(lambda: connection.scalar(gone, {"pid": pid}), 10, what="backend gone")
    finally:
        master.dispose()


def test_the_submit_paths_writes_commit_without_a_transaction_of_their_own(
    stack_settings: Settings, engines: list[Engine], repository: PostgresPredictionRepository
) -> None:
    ours, engine = repository_with(engines, stack_settings.database_url, 60.0)
    commits: list[object] = []
    event.listen(engine, "commit", lambda connection: commits.append(connection))
    prediction_id = uuid.uuid4()
    ours.add_pending(prediction_id, f"uploads/{prediction_id}")
    ours.mark_enqueued(prediction_id)
    assert commits == []  # no BEGIN ... COMMIT around them
    # Committed all the same: another connection sees the row.
    seen = repository.get(prediction_id)
    assert seen is not None and seen.image_key == f"uploads/{prediction_id}"


def test_a_status_read_is_one_statement_without_a_transaction_of_its_own(
    stack_settings: Settings, engines: list[Engine]
) -> None:
    """The row and its detections joined, sent with autocommit on (pg8000 then sends no
    BEGIN, and no COMMIT or ROLLBACK after): one round trip for the most frequent read."""
    ours, engine = repository_with(engines, stack_settings.database_url, 60.0)
    prediction_id = uuid.uuid4()
    ours.add_pending(prediction_id, f"uploads/{prediction_id}")
    ours.start_processing_many([prediction_id])
    found = tuple(Detection(label, 0.9, Box(1, 2, 3, 4)) for label in ("dog", "cat", "car"))
    ours.finish_many([FinishedPrediction(prediction_id, True, found)])
    sent: list[tuple[str, bool]] = []
    commits: list[object] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _sent(connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append((statement, connection.connection.dbapi_connection.autocommit))

    event.listen(engine, "commit", lambda connection: commits.append(connection))
    seen = ours.get(prediction_id)
    assert len(sent) == 1 and sent[0][1] is True, sent  # one statement, no BEGIN before it
    assert commits == []
    assert seen is not None and seen.detections == found  # all of them, in their order
    assert ours.get(uuid.uuid4()) is None


def test_a_connection_dropped_while_idle_is_replaced_before_use(
    stack_settings: Settings, engines: list[Engine], master_database_url: str
) -> None:
    ours, engine = repository_with(engines, stack_settings.database_url, 0.0)
    ours.ping()
    drop_pooled_connection(engine, master_database_url)
    prediction_id = uuid.uuid4()
    ours.add_pending(prediction_id, f"uploads/{prediction_id}")  # no error: pinged, replaced
    assert ours.get(prediction_id) is not None


def test_a_connection_used_a_moment_ago_is_not_pinged(
    stack_settings: Settings, engines: list[Engine], master_database_url: str
) -> None:
    """The trade: no round trip for a check while requests come back to back; should the
    server drop a connection in that second, one request gets a 503 and the pool is renewed."""
    ours, engine = repository_with(engines, stack_settings.database_url, 60.0)
    ours.ping()
    drop_pooled_connection(engine, master_database_url)
    with pytest.raises(DependencyUnavailable):
        ours.add_pending(uuid.uuid4(), "uploads/x")
    prediction_id = uuid.uuid4()
    ours.add_pending(prediction_id, f"uploads/{prediction_id}")
    assert ours.get(prediction_id) is not None
