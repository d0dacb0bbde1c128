"""API keys in DynamoDB (ApiAuth=API_KEY), keyed by keyId: only a SHA-256 of each secret."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from imgpipe_core.clients import client

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class ApiKeyRecord(BaseModel):
    """One item of the key table, the one description of its shape."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    key_id: str = Field(alias="keyId")
    secret_sha256: str = Field(alias="secretSha256")
    name: str = ""
    created_at: str = Field(alias="createdAt")
    revoked_at: str | None = Field(default=None, alias="revokedAt")


def _item(record: ApiKeyRecord) -> dict[str, Any]:
    values = record.model_dump(by_alias=True, exclude_none=True)
    return {k: _serializer.serialize(v) for k, v in values.items()}


def _record(item: dict[str, Any]) -> ApiKeyRecord:
    return ApiKeyRecord.model_validate({k: _deserializer.deserialize(v) for k, v in item.items()})


def put_new(table: str, record: ApiKeyRecord) -> None:
    """Store a new key; never overwrites one (a keyId collision is an error, not a reuse)."""
    client("dynamodb").put_item(
        TableName=table,
        Item=_item(record),
        ConditionExpression="attribute_not_exists(keyId)",
    )


def get(table: str, key_id: str) -> ApiKeyRecord | None:
    # Strongly consistent: a revocation is seen by the next authorizer call that asks.
    item = client("dynamodb").get_item(
        TableName=table, Key={"keyId": {"S": key_id}}, ConsistentRead=True
    )
    return _record(item["Item"]) if "Item" in item else None


def all_keys(table: str) -> list[ApiKeyRecord]:
    found: list[ApiKeyRecord] = []
    for page in client("dynamodb").get_paginator("scan").paginate(TableName=table):
        found.extend(_record(item) for item in page.get("Items", []))
    return sorted(found, key=lambda record: record.created_at)


def mark_revoked(table: str, key_id: str, at: str) -> bool:
    """False when there is no such key; revoking a revoked key keeps its first revokedAt."""
    try:
        client("dynamodb").update_item(
            TableName=table,
            Key={"keyId": {"S": key_id}},
            UpdateExpression="SET revokedAt = if_not_exists(revokedAt, :at)",
            ConditionExpression="attribute_exists(keyId)",
            ExpressionAttributeValues={":at": {"S": at}},
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True
