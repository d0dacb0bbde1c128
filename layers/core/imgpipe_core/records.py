"""Processing records in DynamoDB, keyed by processingId.

Writes are conditional so a late or duplicate event can never move a record backwards: a new
version is claimed only once; a re-run claims a record only when no attempt is in flight; and
outcomes (written by the state machine itself) require the attempt that produced them.
"""

from __future__ import annotations

import datetime
import heapq
import itertools
import json
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from imgpipe_core.clients import client
from imgpipe_core.models import Job, Source, Status

STATUS_INDEX = "ByStatus"
UPLOAD_INDEX = "ByUpload"
# A PROCESSING record older than this is considered abandoned and may be re-run.
STALE_AFTER = datetime.timedelta(minutes=15)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def iso(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in values.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    record = {k: _deserializer.deserialize(v) for k, v in item.items()}
    for field in ("variantsJson", "imageJson", "manifestJson"):
        if field in record:
            record[field.removesuffix("Json")] = json.loads(record.pop(field))
    return _plain(record)


def _plain(value: Any) -> Any:
    """Decimals from DynamoDB → int/float, so records serialise as JSON."""
    from decimal import Decimal

    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


@dataclass(frozen=True)
class Claim:
    job: Job
    duplicate: bool


def claim(
    table: str,
    pid: str,
    source: Source,
    execution_arn: str,
    *,
    rerun: bool,
    upload_id: str | None,
    ttl_days: int,
) -> Claim:
    """Start an attempt for ``pid``: first sight of a version, or a re-run of a finished one."""
    moment = now()
    source_map = source.model_dump(mode="json", by_alias=True, exclude_none=True)
    if not rerun:
        item = {
            "processingId": pid,
            "status": Status.PROCESSING.value,
            "attempt": 1,
            "source": source_map,
            "uploadId": upload_id,
            "executionArns": [execution_arn],
            "createdAt": iso(moment),
            "updatedAt": iso(moment),
            "expiresAt": int((moment + datetime.timedelta(days=ttl_days)).timestamp()),
        }
        try:
            client("dynamodb").put_item(
                TableName=table,
                Item=_to_item(item),
                ConditionExpression="attribute_not_exists(processingId)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return _duplicate(table, pid, source, execution_arn, upload_id)
        job = Job(processingId=pid, source=source, executionArn=execution_arn, uploadId=upload_id)
        return Claim(job, duplicate=False)

    try:
        response = client("dynamodb").update_item(
            TableName=table,
            Key={"processingId": {"S": pid}},
            UpdateExpression=(
                "SET #status = :processing, attempt = attempt + :one, updatedAt = :now, "
                "executionArns = list_append(executionArns, :arn) "
                "REMOVE #error, cause, rejectionCode, rejectionMessage"
            ),
            ConditionExpression=(
                "attribute_exists(processingId) AND (#status <> :processing OR updatedAt < :stale)"
            ),
            ExpressionAttributeNames={"#status": "status", "#error": "error"},
            ExpressionAttributeValues=_to_item(
                {
                    ":processing": Status.PROCESSING.value,
                    ":one": 1,
                    ":now": iso(moment),
                    ":arn": [execution_arn],
                    ":stale": iso(moment - STALE_AFTER),
                }
            ),
            ReturnValues="ALL_NEW",
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return _duplicate(table, pid, source, execution_arn, upload_id)
    record = from_item(response["Attributes"])
    job = Job(
        processingId=pid,
        attempt=int(record["attempt"]),
        source=source,
        executionArn=execution_arn,
        uploadId=record.get("uploadId"),
    )
    return Claim(job, duplicate=False)


def _duplicate(
    table: str, pid: str, source: Source, execution_arn: str, upload_id: str | None
) -> Claim:
    """Another event or request already owns this attempt: report it, change nothing.

    Unless the owner is this very execution: Register retried after it was killed between
    its write and its reply must resume its own claim, not ignore it as a duplicate (that
    left the record PROCESSING for good).
    """
    existing = get(table, pid) or {}
    own = _owned_by(existing, execution_arn)
    job = Job(
        processingId=pid,
        attempt=int(existing.get("attempt", 1)),
        source=source,
        executionArn=execution_arn,
        duplicate=not own,
        uploadId=existing.get("uploadId", upload_id) if own else upload_id,
    )
    return Claim(job, duplicate=not own)


def _owned_by(record: dict[str, Any], execution_arn: str) -> bool:
    """Whether ``execution_arn`` holds the record's attempt in flight."""
    arns = record.get("executionArns") or []
    return (
        record.get("status") == Status.PROCESSING.value and bool(arns) and arns[-1] == execution_arn
    )


def release(table: str, pid: str, execution_arn: str, *, error: str, cause: str) -> Job | None:
    """End the attempt ``execution_arn`` holds as FAILED; None if it holds none.

    For an execution that claimed a record and then could not go on (Register failing after
    its write, an execution that ended without recording an outcome): without this the record
    would stay PROCESSING and a re-run would be refused until it is stale.
    """
    record = get(table, pid)
    if record is None or not _owned_by(record, execution_arn):
        return None
    moment = iso(now())
    try:
        client("dynamodb").update_item(
            TableName=table,
            Key={"processingId": {"S": pid}},
            UpdateExpression="SET #status = :failed, updatedAt = :now, completedAt = :now, "
            "#error = :error, cause = :cause",
            ConditionExpression="#status = :processing AND attempt = :attempt",
            ExpressionAttributeNames={"#status": "status", "#error": "error"},
            ExpressionAttributeValues=_to_item(
                {
                    ":failed": Status.FAILED.value,
                    ":processing": Status.PROCESSING.value,
                    ":attempt": int(record["attempt"]),
                    ":now": moment,
                    ":error": error,
                    ":cause": cause,
                }
            ),
        )
    except ClientError as failure:
        if failure.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return None  # a newer attempt took the record meanwhile: it is not ours to end
    return Job(
        processingId=pid,
        attempt=int(record["attempt"]),
        source=Source.model_validate(record["source"]),
        executionArn=execution_arn,
        uploadId=record.get("uploadId"),
    )


def get(table: str, pid: str) -> dict[str, Any] | None:
    item = (
        client("dynamodb")
        .get_item(TableName=table, Key={"processingId": {"S": pid}}, ConsistentRead=True)
        .get("Item")
    )
    return from_item(item) if item else None


def find_by_upload(table: str, upload_id: str) -> dict[str, Any] | None:
    """The latest record of an API upload id."""
    items = (
        client("dynamodb")
        .query(
            TableName=table,
            IndexName=UPLOAD_INDEX,
            KeyConditionExpression="uploadId = :u",
            ExpressionAttributeValues={":u": {"S": upload_id}},
            ScanIndexForward=False,
            Limit=1,
        )
        .get("Items", [])
    )
    return from_item(items[0]) if items else None


# Where a listing stopped in one status's part of the ByStatus index: the index key of the last
# record it returned, or LISTING_DONE once that status has nothing more. A status that has no
# position yet starts from its newest record.
LISTING_DONE = "done"
Positions = dict[Status, dict[str, Any] | str]


def list_records(
    table: str,
    status: Status | None = None,
    *,
    limit: int = 50,
    after: Positions | None = None,
) -> tuple[list[dict[str, Any]], Positions | None]:
    """Newest first from the status index; without a status, every status is merged.

    ``after`` continues a previous page; the positions returned continue this one, and are
    ``None`` once every status is exhausted.
    """
    after = after or {}
    statuses = [status] if status else list(Status)
    pages: dict[Status, list[dict[str, Any]]] = {}
    exhausted: set[Status] = set()
    for one in statuses:
        position = after.get(one)
        if position == LISTING_DONE:
            exhausted.add(one)
            continue
        kwargs: dict[str, Any] = {
            "TableName": table,
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": "#status = :s",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":s": {"S": one.value}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if isinstance(position, dict):
            kwargs["ExclusiveStartKey"] = position
        response = client("dynamodb").query(**kwargs)
        pages[one] = [from_item(item) for item in response.get("Items", [])]
        if "LastEvaluatedKey" not in response:
            exhausted.add(one)
    # A stable merge keeps each status's own order, so what is taken of it is a prefix of its
    # page and its position is simply the last record taken.
    merged = heapq.merge(
        *pages.values(), key=lambda record: str(record.get("updatedAt", "")), reverse=True
    )
    taken = list(itertools.islice(merged, limit))
    positions: Positions = {}
    for one in statuses:
        mine = [record for record in taken if record["status"] == one.value]
        if one in exhausted and len(mine) == len(pages.get(one, [])):
            positions[one] = LISTING_DONE
        elif mine:
            positions[one] = _index_key(mine[-1])
        elif (previous := after.get(one)) is not None:
            positions[one] = previous
    if all(positions.get(one) == LISTING_DONE for one in statuses):
        return taken, None
    return taken, positions


def _index_key(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "processingId": {"S": record["processingId"]},
        "status": {"S": record["status"]},
        "updatedAt": {"S": record["updatedAt"]},
    }
