"""The request counter meters DynamoDB request units per write from moto's items before and
after it (the rules themselves: tests/unit/test_dynamodb_units.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from imgpipe.local.adapters import dynamodb_atomic, request_counter
from tests.engine.conftest import moto_server

pytestmark = pytest.mark.engine

TABLE = "metered"
KEY = {"id": {"S": "p1"}}


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    dynamodb_atomic.install()
    request_counter.install()
    with moto_server() as url:
        client = boto3.client("dynamodb", endpoint_url=url)
        attributes = ("id", "status", "updatedAt", "uploadId", "createdAt")
        client.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in attributes],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "ByStatus",
                    "KeySchema": [
                        {"AttributeName": "status", "KeyType": "HASH"},
                        {"AttributeName": "updatedAt", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                },
                {
                    "IndexName": "ByUpload",
                    "KeySchema": [
                        {"AttributeName": "uploadId", "KeyType": "HASH"},
                        {"AttributeName": "createdAt", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                },
            ],
        )
        yield client


def _metered(call: Any) -> dict[tuple[str, str, str], float]:
    before = request_counter.units_snapshot(TABLE)
    try:
        call()
    except ClientError as error:
        assert error.response["Error"]["Code"] == "ConditionalCheckFailedException"
    after = request_counter.units_snapshot(TABLE)
    spent = {k: v - before.get(k, 0.0) for k, v in after.items()}
    return {k: v for k, v in spent.items() if v}


def test_each_write_is_metered_by_its_item_before_and_after(dynamodb: Any) -> None:
    # GIVEN a new 1.5 KB item in both indexes
    item = {
        **KEY,
        "status": {"S": "PROCESSING"},
        "updatedAt": {"S": "t1"},
        "uploadId": {"S": "u1"},
        "createdAt": {"S": "t0"},
        "pad": {"S": "x" * 1500},
    }
    put = _metered(lambda: dynamodb.put_item(TableName=TABLE, Item=item))
    # THEN the table and the ALL index pay 2 WRU, the KEYS_ONLY index 1
    assert put == {
        ("PutItem", "WRU", "table"): 2,
        ("PutItem", "WRU", "ByStatus"): 2,
        ("PutItem", "WRU", "ByUpload"): 1,
    }

    # WHEN the ByStatus key changes and the item grows past 2 KB
    def finish() -> None:
        dynamodb.update_item(
            TableName=TABLE,
            Key=KEY,
            UpdateExpression="SET #s = :s, updatedAt = :t, more = :more",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":s": {"S": "SUCCEEDED"},
                ":t": {"S": "t2"},
                ":more": {"S": "y" * 600},
            },
        )

    # THEN the table pays the larger image (3), ByStatus a delete (2) and a put (3), ByUpload
    # nothing: its entry (keys only) did not change
    assert _metered(finish) == {
        ("UpdateItem", "WRU", "table"): 3,
        ("UpdateItem", "WRU", "ByStatus"): 5,
    }

    # WHEN a conditional update is refused THEN the table pays the item's size, no index
    def refused() -> None:
        dynamodb.update_item(
            TableName=TABLE,
            Key=KEY,
            UpdateExpression="SET more = :m",
            ConditionExpression="#s = :processing",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":m": {"S": "z"}, ":processing": {"S": "PROCESSING"}},
        )

    assert _metered(refused) == {("UpdateItem", "WRU", "table"): 3}

    # AND reads: a strongly consistent GetItem of 2.2 KB is 1 RRU; a Query of the KEYS_ONLY
    # index reads only the entry (eventually consistent: 0.5)
    get = _metered(lambda: dynamodb.get_item(TableName=TABLE, Key=KEY, ConsistentRead=True))
    assert get == {("GetItem", "RRU", "table"): 1}
    query = _metered(
        lambda: dynamodb.query(
            TableName=TABLE,
            IndexName="ByUpload",
            KeyConditionExpression="uploadId = :u",
            ExpressionAttributeValues={":u": {"S": "u1"}},
        )
    )
    assert query == {("Query", "RRU", "ByUpload"): 0.5}

    # WHEN the item is deleted THEN each entry is deleted too
    assert _metered(lambda: dynamodb.delete_item(TableName=TABLE, Key=KEY)) == {
        ("DeleteItem", "WRU", "table"): 3,
        ("DeleteItem", "WRU", "ByStatus"): 3,
        ("DeleteItem", "WRU", "ByUpload"): 1,
    }


def test_batch_writes_are_metered_per_item(dynamodb: Any) -> None:
    items = [{"id": {"S": f"b{i}"}, "status": {"S": "S"}, "updatedAt": {"S": "t"}} for i in (1, 2)]
    batch = _metered(
        lambda: dynamodb.batch_write_item(
            RequestItems={TABLE: [{"PutRequest": {"Item": item}} for item in items]}
        )
    )
    assert batch == {
        ("BatchWriteItem", "WRU", "table"): 2,
        ("BatchWriteItem", "WRU", "ByStatus"): 2,
    }
    got = _metered(
        lambda: dynamodb.batch_get_item(
            RequestItems={TABLE: {"Keys": [{"id": {"S": "b1"}}, {"id": {"S": "b2"}}]}}
        )
    )
    assert got == {("BatchGetItem", "RRU", "table"): 1.0}  # 2 items x 0.5 (eventual)
