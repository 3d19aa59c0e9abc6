"""`process_sqs_batch_in_parallel`: a batch's records run at once, so one slow record holds up
none of the others, and each failure is its own batch item failure."""

from __future__ import annotations

import threading
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from dogdetect.runtime.sqs_batch import process_sqs_batch_in_parallel

from tests.unit.conftest import load_event


def batch(size: int) -> dict[str, Any]:
    event = load_event("notify_sqs_batch")
    record = event["Records"][0]
    event["Records"] = [{**record, "messageId": f"m-{n}"} for n in range(size)]
    return event


def test_a_slow_record_holds_up_no_other() -> None:
    """The slow record waits until every other has finished: run one after another, it could
    never finish (the others would wait behind it); at once, all do."""
    others_done = threading.Barrier(5, timeout=30)
    finished: list[str] = []

    def handle(record: SQSRecord) -> None:
        if record.message_id != "m-0":
            finished.append(record.message_id)
        others_done.wait()  # all five in flight together, or a BrokenBarrierError
        if record.message_id == "m-0":
            finished.append(record.message_id)

    assert process_sqs_batch_in_parallel(batch(5), handle, workers=5) == {"batchItemFailures": []}
    assert finished[-1] == "m-0" and sorted(finished) == [f"m-{n}" for n in range(5)]


def test_each_failure_is_its_own_batch_item_failure() -> None:
    def handle(record: SQSRecord) -> None:
        if record.message_id in ("m-1", "m-3"):
            raise RuntimeError("the receiver answered 500")

    answer = process_sqs_batch_in_parallel(batch(4), handle, workers=4)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-3"}]}


def test_every_record_failing_still_answers_per_record() -> None:
    def handle(record: SQSRecord) -> None:
        raise RuntimeError("every receiver is down")

    answer = process_sqs_batch_in_parallel(batch(2), handle, workers=2)
    assert [f["itemIdentifier"] for f in answer["batchItemFailures"]] == ["m-0", "m-1"]
