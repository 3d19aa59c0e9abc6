"""The listing's repository call (`page`) on the in-memory fake and on PostgreSQL, the same
checks on both (as tests/integration/test_repository_contract.py), and on PostgreSQL the plan:
each status's range read from migration 0009's indexes, never the whole table.

The session stack shares the database: owner-scoped checks use an owner of their own; the
everyone's listing (owner None) is checked on this test's rows among whatever else is there."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dogdetect.adapters.postgres import PostgresPredictionRepository, make_engine, statements
from dogdetect.config import Settings
from dogdetect.domain.listing import Position
from dogdetect.domain.models import FinishedPrediction, Prediction, Status, image_key_for
from sqlalchemy import Engine, bindparam, create_engine, text

from tests.fakes import FakeRepository

Repository = FakeRepository | PostgresPredictionRepository


@dataclass
class Lister:
    repository: Repository
    engine: Engine | None  # PostgreSQL's, to put rows at one instant
    created: list[uuid.UUID] = field(default_factory=list)

    def add(self, owner: bytes | None, status: Status = Status.PENDING) -> Prediction:
        pid = uuid.uuid4()
        self.created.append(pid)
        self.repository.add_pending(pid, image_key_for(pid), owner=owner)
        if status is not Status.PENDING:
            self.repository.start_processing_many([pid])
        if status is Status.DONE:
            self.repository.finish_many([FinishedPrediction(pid, True, ())])
        if status is Status.ERROR:
            self.repository.fail(pid, "could not be decoded")
        found = self.repository.get(pid)
        assert found is not None
        return found

    def at_one_instant(self, ids: list[uuid.UUID]) -> None:
        """The rows' created_at made equal: the order is then the ids'."""
        if isinstance(self.repository, FakeRepository):
            moment = self.repository.rows[ids[0]].prediction.created_at
            for pid in ids:
                row = self.repository.rows[pid]
                row.prediction = replace(row.prediction, created_at=moment)
            return
        assert self.engine is not None
        statement = text(
            "UPDATE predictions SET created_at = (SELECT min(created_at) FROM predictions"
            " WHERE id IN :ids) WHERE id IN :ids"
        ).bindparams(bindparam("ids", expanding=True))
        with self.engine.begin() as connection:
            connection.execute(statement, {"ids": ids})

    def walk(self, owner: bytes | None, status: Status | None, limit: int) -> list[uuid.UUID]:
        """Every page's ids, following each page's last position, as the service does."""
        seen: list[uuid.UUID] = []
        after = None
        while True:
            page = self.repository.page(owner, status, after, limit)
            assert len(page) <= limit
            seen += [p.id for p in page]
            if len(page) < limit:
                return seen
            after = Position.of(page[-1])


@pytest.fixture(params=["fake", "postgres"])
def lister(request: pytest.FixtureRequest) -> Iterator[Lister]:
    if request.param == "fake":
        yield Lister(FakeRepository(), None)
        return
    repository: PostgresPredictionRepository = request.getfixturevalue("repository")
    settings: Settings = request.getfixturevalue("stack_settings")
    engine = make_engine(settings.database_url)
    subject = Lister(repository, engine)
    try:
        yield subject
    finally:
        for pid in subject.created:
            repository.remove(pid)
        engine.dispose()


def _owner() -> bytes:
    return uuid.uuid4().bytes * 2  # 32 bytes, as a digest


def _newest_first(predictions: list[Prediction]) -> list[uuid.UUID]:
    return [p.id for p in sorted(predictions, key=lambda p: (p.created_at, p.id), reverse=True)]


@pytest.mark.parametrize("limit", [1, 2, 5, 100])
def test_pages_walk_an_owners_predictions_once_newest_first(lister: Lister, limit: int) -> None:
    owner = _owner()
    made = [lister.add(owner, status) for status in [*Status, *Status]]
    lister.add(_owner())  # another owner's
    lister.add(None)  # nobody's (keys off)
    assert lister.walk(owner, None, limit) == _newest_first(made)


def test_ties_on_created_at_go_by_id(lister: Lister) -> None:
    owner = _owner()
    made = [lister.add(owner, status) for status in (Status.PENDING, Status.DONE, Status.ERROR)]
    made += [lister.add(owner) for _ in range(4)]
    lister.at_one_instant([p.id for p in made])
    expected = sorted((p.id for p in made), reverse=True)
    assert lister.walk(owner, None, 2) == expected
    assert lister.walk(owner, None, 1) == expected


def test_a_status_filter(lister: Lister) -> None:
    owner = _owner()
    done = [lister.add(owner, Status.DONE) for _ in range(3)]
    errors = [lister.add(owner, Status.ERROR)]
    lister.add(owner)
    assert lister.walk(owner, Status.DONE, 2) == _newest_first(done)
    assert lister.walk(owner, Status.ERROR, 2) == _newest_first(errors)
    assert lister.walk(owner, Status.PROCESSING, 2) == []


def test_no_owner_lists_everyones(lister: Lister) -> None:
    mine = [lister.add(_owner()), lister.add(None, Status.DONE), lister.add(_owner())]
    listed = lister.walk(None, None, 100)
    assert [pid for pid in listed if pid in lister.created] == _newest_first(mine)


# --- the plan: PostgreSQL reads each status's range of an index -----------------------------

ROWS, OTHERS = 500, 40


@pytest.fixture
def many_rows(stack_settings: Settings, master_database_url: str) -> Iterator[bytes]:
    """ROWS finished predictions of one owner, ROWS of each of OTHERS owners, and ROWS of
    nobody's, half DONE and half ERROR; then fresh statistics."""
    owner = _owner()
    engine = make_engine(stack_settings.database_url)
    fill = text(
        "INSERT INTO predictions (id, status, image_key, owner, created_at, enqueued_at)"
        " SELECT gen_random_uuid(), (ARRAY['DONE','ERROR'])[1 + mod(n, 2)], 'uploads/many',"
        " CASE WHEN o = 0 THEN CAST(:owner AS bytea) WHEN o = 1 THEN NULL"
        " ELSE sha256(CAST(CAST(o AS text) AS bytea)) END,"
        " now() - make_interval(secs => n), now()"
        " FROM generate_series(1, :rows) AS n, generate_series(0, :owners + 1) AS o"
    )
    with engine.begin() as connection:
        connection.execute(fill, {"rows": ROWS, "owner": owner, "owners": OTHERS})
    master = create_engine(master_database_url)
    with master.begin() as connection:
        connection.execute(text("ANALYZE predictions"))
    try:
        yield owner
    finally:
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM predictions WHERE image_key = 'uploads/many'"))
        engine.dispose()
        master.dispose()


def _plan(engine: Engine, owner: bytes | None, status: Status | None) -> dict[str, Any]:
    # a page in the middle of the rows (their created_at: now, less 1 to ROWS seconds)
    after = Position(datetime.now(UTC) - timedelta(seconds=ROWS / 2), uuid.UUID(int=0))
    compiled = statements.listing(owner, status, after, 21).compile(dialect=engine.dialect)
    params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    with engine.connect() as connection:
        raw = connection.exec_driver_sql("EXPLAIN (FORMAT JSON) " + compiled.string, params)
        plan: dict[str, Any] = raw.scalar_one()[0]["Plan"]
    return plan if isinstance(plan, dict) else json.loads(plan)


def _scans(node: dict[str, Any]) -> list[tuple[str, str | None]]:
    found = []
    if "Scan" in node["Node Type"] and node.get("Relation Name") == "predictions":
        found.append((node["Node Type"], node.get("Index Name")))
    for child in node.get("Plans", []):
        found += _scans(child)
    return found


@pytest.mark.parametrize(
    ("keyed", "status", "index"),
    [
        (True, None, "ix_predictions_owner_listing"),
        (True, Status.ERROR, "ix_predictions_owner_listing"),
        (False, None, "ix_predictions_listing"),
        (False, Status.DONE, "ix_predictions_listing"),
    ],
)
def test_each_status_range_is_read_from_its_index(
    many_rows: bytes, stack_settings: Settings, keyed: bool, status: Status | None, index: str
) -> None:
    engine = make_engine(stack_settings.database_url)
    try:
        scans = _scans(_plan(engine, many_rows if keyed else None, status))
    finally:
        engine.dispose()
    # Never the whole table. The finished rows' ranges (all of them here) come from the
    # listing's index; the planner may read the few unfinished rows from the sweep's index.
    assert scans and all(kind.startswith("Index") for kind, _ in scans), scans
    assert index in {name for _, name in scans}, scans
    if status is not None:
        assert {name for _, name in scans} <= {index, "predictions_pkey"}, scans
