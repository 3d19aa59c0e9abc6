"""submit_image writes the PENDING row and the S3 object at once (no worker sees either before
the message); whichever of the two fails, what the other stored is taken back."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from typing import Any

import pytest
from dogdetect.domain.errors import DependencyUnavailable
from dogdetect.domain.models import Prediction
from dogdetect.service.submit import accept_upload

from tests import corpus
from tests.fakes import FakeAdapters, FakeRepository, FakeStorage
from tests.unit.conftest import submit_deps_for

WAIT_SECONDS = 5.0


class PutSignals:
    """The storage fake, telling when a put has started."""

    def __init__(self, storage: FakeStorage) -> None:
        self._storage = storage
        self.started = threading.Event()

    def put(self, key: str, data: bytes) -> None:
        self.started.set()
        self._storage.put(key, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)


class RowWaitsForPut:
    """The repository fake, whose insert finishes only once the put has started: submitting
    row then object, one after the other, would wait here in vain."""

    def __init__(self, repository: FakeRepository, put_started: threading.Event) -> None:
        self._repository = repository
        self._put_started = put_started

    def add_pending(self, prediction_id: uuid.UUID, *args: Any, **kwargs: Any) -> Prediction:
        assert self._put_started.wait(WAIT_SECONDS), "the object was not stored beside the row"
        return self._repository.add_pending(prediction_id, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._repository, name)


def test_the_object_is_stored_while_the_row_is_written(fakes: FakeAdapters) -> None:
    storage = PutSignals(fakes.storage)
    repository = RowWaitsForPut(fakes.repository, storage.started)
    deps = replace(submit_deps_for(fakes), storage=storage, repository=repository)
    prediction = accept_upload(corpus.png(), deps)
    assert fakes.storage.objects == {prediction.image_key: corpus.png()}
    assert fakes.repository.rows[prediction.id].enqueued_at is not None


def test_both_failing_leaves_nothing_and_asks_the_storage_nothing_more(
    fakes: FakeAdapters,
) -> None:
    fakes.repository.break_("add_pending")
    fakes.storage.break_("put")
    with pytest.raises(DependencyUnavailable) as caught:
        accept_upload(corpus.png(), submit_deps_for(fakes))
    assert caught.value.dependency == "database"
    assert fakes.repository.rows == {} and fakes.storage.objects == {}
    assert fakes.storage.operations() == ["put"]
    assert fakes.queue.calls == []


def test_an_object_whose_row_failed_is_left_to_expire_when_it_cannot_be_deleted(
    fakes: FakeAdapters,
) -> None:
    fakes.repository.break_("add_pending")
    fakes.storage.break_("delete")
    with pytest.raises(DependencyUnavailable) as caught:
        accept_upload(corpus.png(), submit_deps_for(fakes))
    assert caught.value.dependency == "database"  # the fault, not the compensation's
    assert fakes.repository.rows == {}
    assert len(fakes.storage.objects) == 1  # no row, no message: the lifecycle rule's
    assert fakes.queue.calls == []


def test_a_put_failing_unexpectedly_takes_the_row_back(fakes: FakeAdapters) -> None:
    fakes.storage.raise_on("put", RuntimeError("a bug"))
    with pytest.raises(RuntimeError):
        accept_upload(corpus.png(), submit_deps_for(fakes))
    assert fakes.repository.rows == {} and fakes.storage.objects == {}
    assert fakes.queue.calls == []
