"""The dynamodb_atomic adapter: concurrent conditional writes have exactly one winner."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from imgpipe.local.adapters import dynamodb_atomic
from tests.engine.conftest import moto_server

pytestmark = pytest.mark.engine

TABLE = "atomic"


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    dynamodb_atomic.install()
    with moto_server() as url:
        client = boto3.client("dynamodb", endpoint_url=url)
        client.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        )
        yield client


@pytest.mark.parametrize("round_", range(5))
def test_concurrent_conditional_updates_have_one_winner(dynamodb: Any, round_: int) -> None:
    key = {"id": {"S": f"item-{round_}"}}
    dynamodb.put_item(TableName=TABLE, Item={**key, "owner": {"S": "nobody"}})

    def claim(who: int) -> bool:
        try:
            dynamodb.update_item(
                TableName=TABLE,
                Key=key,
                UpdateExpression="SET #o = :me",
                ConditionExpression="#o = :nobody",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":me": {"S": str(who)}, ":nobody": {"S": "nobody"}},
            )
        except ClientError as error:
            assert error.response["Error"]["Code"] == "ConditionalCheckFailedException"
            return False
        return True

    with ThreadPoolExecutor(10) as pool:
        won = list(pool.map(claim, range(10)))
    assert won.count(True) == 1
    owner = dynamodb.get_item(TableName=TABLE, Key=key)["Item"]["owner"]["S"]
    assert owner == str(won.index(True))
