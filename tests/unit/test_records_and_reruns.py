"""The typed record, the re-run guard and the conditional delete, on moto's DynamoDB."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from imgpipe import dlq
from imgpipe_core import records, reruns
from imgpipe_core.models import Source, Status
from tests.helpers import moto_table

TABLE = "records"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:pipeline"
PID = "a" * 26
SOURCE = Source(bucket="private", key="uploads/x", versionId="v1", size=10)


@pytest.fixture
def table() -> Iterator[str]:
    with moto_table(TABLE, "processingId") as name:
        yield name


class FakeStepFunctions:
    """Records the executions a re-run starts; can be told to fail once."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.fail_next = False

    def start_execution(self, *, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:
        if self.fail_next:
            self.fail_next = False
            raise ClientError({"Error": {"Code": "ServiceUnavailable"}}, "StartExecution")
        self.started.append(name)
        return {"executionArn": f"{MACHINE.replace(':stateMachine:', ':execution:')}:{name}"}


def _finished(table: str, *, status: Status = Status.SUCCEEDED) -> records.ProcessingRecord:
    records.claim(table, PID, SOURCE, "arn:1", rerun=False, upload_id=None, ttl_days=1)
    boto3.client("dynamodb").update_item(
        TableName=table,
        Key={"processingId": {"S": PID}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": status.value}},
    )
    found = records.get(table, PID)
    assert found is not None
    return found


def test_records_are_typed_and_the_json_attributes_parsed(table: str) -> None:
    record = _finished(table)
    assert record.status is Status.SUCCEEDED and record.attempt == 1
    assert record.source == SOURCE and record.execution_arns == ["arn:1"]
    item = {
        "processingId": {"S": PID},
        "status": {"S": "SUCCEEDED"},
        "attempt": {"N": "2"},
        "imageJson": {"S": json.dumps({"width": 3, "height": 2})},
        "variantsJson": {"S": "[]"},
    }
    parsed = records.from_item(item)
    assert parsed.attempt == 2 and parsed.image == {"width": 3, "height": 2}
    assert {"variantsJson", "imageJson", "rerunAttempt"} <= records.known_attributes()
    assert "variants" not in records.known_attributes()


def test_one_rerun_claim_per_attempt_until_the_next_attempt_is_registered(table: str) -> None:
    record = _finished(table)
    # GIVEN a finished record WHEN two callers claim a re-run THEN only the first gets it
    assert records.claim_rerun(table, record) is True
    assert records.claim_rerun(table, record) is False
    # WHEN the attempt is registered (Register's claim) THEN it is in flight: still no claim
    records.claim(table, PID, SOURCE, "arn:2", rerun=True, upload_id=None, ttl_days=1)
    registered = records.get(table, PID)
    assert registered is not None and registered.attempt == 2 and registered.in_flight
    assert records.claim_rerun(table, registered) is False
    # AND a caller that read the record before the registration is refused too
    assert records.claim_rerun(table, record) is False
    # WHEN that attempt has finished THEN the next re-run may be claimed
    done = _finished_again(table)
    assert records.claim_rerun(table, done) is True


def _finished_again(table: str) -> records.ProcessingRecord:
    boto3.client("dynamodb").update_item(
        TableName=table,
        Key={"processingId": {"S": PID}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "FAILED"}},
    )
    found = records.get(table, PID)
    assert found is not None
    return found


def test_start_rerun_starts_once_and_gives_the_claim_back_when_it_cannot_start(
    table: str,
) -> None:
    _finished(table)
    sfn = FakeStepFunctions()
    # WHEN Step Functions refuses the first start THEN the claim is released, the error raised
    sfn.fail_next = True
    with pytest.raises(ClientError):
        reruns.start_rerun(table, MACHINE, PID, sfn=sfn)
    # AND the next request starts the re-run, once
    first = reruns.start_rerun(table, MACHINE, PID, sfn=sfn)
    second = reruns.start_rerun(table, MACHINE, PID, sfn=sfn)
    assert first.execution_arn and not first.already_running
    assert second.already_running and second.execution_arn is None
    assert sfn.started == [f"{PID}-r2"]


def test_dlq_redrive_goes_through_the_same_guard(table: str) -> None:
    record = _finished(table, status=Status.FAILED)
    assert records.claim_rerun(table, record)  # e.g. `imgpipe rerun` or the API got there first
    letter = dlq.DeadLetter(
        message_id="m", receipt_handle="r", kind="ProcessingFailed", error="X", processing_id=PID
    )
    sfn = FakeStepFunctions()
    result = dlq.redrive_one(letter, table=table, state_machine_arn=MACHINE, sfn=sfn)
    assert result.started is None and "already running" in result.note
    assert sfn.started == []


def test_delete_is_conditional_and_refuses_an_attempt_in_flight(table: str) -> None:
    records.claim(table, PID, SOURCE, "arn:1", rerun=False, upload_id=None, ttl_days=1)
    with pytest.raises(records.InFlight):
        records.delete(table, PID)
    _finished(table)
    assert records.delete(table, PID) is True
    assert records.delete(table, PID) is False
