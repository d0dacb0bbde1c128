"""Register's sweep of abandoned Express attempts, on moto: a letter that cannot be sent leaves
the attempt for the next sweep instead of a FAILED record that no letter reports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from imgpipe_core import clients, records, register
from imgpipe_core.config import Settings
from imgpipe_core.models import Source, Status
from tests.helpers import moto_table

TABLE = "records"
PID = "b" * 26
ARN = "arn:aws:states:us-east-1:123456789012:express:pipeline:x:y"
OLD = "2020-01-01T00:00:00.000Z"


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with moto_table(TABLE, "processingId", status_index=True):
        clients.configure(None)
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        queue = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="dlq")
        source = Source(bucket="private", key="uploads/x", versionId="v1", size=10)
        records.claim(TABLE, PID, source, ARN, rerun=False, upload_id=None, ttl_days=1)
        dynamodb.update_item(  # the attempt's execution ended long ago without an outcome
            TableName=TABLE,
            Key={"processingId": {"S": PID}},
            UpdateExpression="SET updatedAt = :old",
            ExpressionAttributeValues={":old": {"S": OLD}},
        )
        yield {"sqs": boto3.client("sqs", region_name="us-east-1"), "queue": queue["QueueUrl"]}
    clients.configure(None)


def _settings(queue_url: str) -> Settings:
    return Settings(TABLE_NAME=TABLE, DEAD_LETTER_QUEUE_URL=queue_url)


def test_an_abandoned_attempt_is_failed_and_dead_lettered(aws: dict[str, Any]) -> None:
    swept = register.sweep_abandoned(_settings(aws["queue"]))

    assert swept == register.Swept(dead_lettered=[PID], retry_later=[])
    record = records.get(TABLE, PID)
    assert record is not None and record.status is Status.FAILED
    (message,) = aws["sqs"].receive_message(QueueUrl=aws["queue"])["Messages"]
    letter = json.loads(message["Body"])
    assert (letter["kind"], letter["processingId"], letter["error"]) == (
        "ProcessingFailed",
        PID,
        register.ABANDONED,
    )


def test_a_letter_that_cannot_be_sent_leaves_the_attempt_for_the_next_sweep(
    aws: dict[str, Any],
) -> None:
    # WHEN the dead-letter queue refuses the letter (here: it does not exist)
    missing = aws["queue"].replace("/dlq", "/gone")
    swept = register.sweep_abandoned(_settings(missing))
    # THEN the record is PROCESSING and stale again, not FAILED with nothing to report it
    assert swept == register.Swept(dead_lettered=[], retry_later=[PID])
    record = records.get(TABLE, PID)
    assert record is not None and record.status is Status.PROCESSING
    assert record.updated_at == OLD and not record.error
    assert [r.processing_id for r in records.abandoned(TABLE)] == [PID]
    # AND the next sweep, with the queue back, dead-letters it
    assert register.sweep_abandoned(_settings(aws["queue"])).dead_lettered == [PID]
    assert len(aws["sqs"].receive_message(QueueUrl=aws["queue"])["Messages"]) == 1
