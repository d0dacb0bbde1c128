"""Processing records in DynamoDB, keyed by processingId.

Writes are conditional so a late or duplicate event can never move a record backwards: a new
version is claimed only once; a re-run claims a record only when no attempt is in flight; and
outcomes (written by the state machine itself) require the attempt that produced them.
"""

from __future__ import annotations

import contextlib
import datetime
import heapq
import itertools
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from imgpipe_core import keys
from imgpipe_core.clients import client
from imgpipe_core.errors import AttemptSuperseded
from imgpipe_core.imaging import ImageInfo
from imgpipe_core.models import Job, PublishedVariant, Source, Status

STATUS_INDEX = "ByStatus"
UPLOAD_INDEX = "UploadKeys"  # KEYS_ONLY: lookups read the record by its key
# A PROCESSING record (or a re-run's claim) older than this is considered abandoned.
STALE_AFTER = datetime.timedelta(minutes=15)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def iso(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def stale_cutoff(moment: datetime.datetime | None = None) -> str:
    """The one rule for "abandoned": last touched before this timestamp (ISO, comparable)."""
    return iso((moment or now()) - STALE_AFTER)


class ProcessingRecord(BaseModel):
    """One item of the status table, the one description of its shape.

    Written by ``claim`` (Register), ``succeed`` (Publish Variants), the state machine's
    ``Record Rejection`` / ``Record Failure`` tasks and the re-run guard; a test parses what
    they write so the writers cannot drift apart.
    """

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    processing_id: str = Field(alias="processingId")
    status: Status
    attempt: int = 1
    source: Source | None = None
    upload_id: str | None = Field(default=None, alias="uploadId")
    execution_arns: list[str] = Field(default_factory=list, alias="executionArns")
    created_at: str | None = Field(default=None, alias="createdAt")
    updated_at: str = Field(default="", alias="updatedAt")
    completed_at: str | None = Field(default=None, alias="completedAt")
    expires_at: int | None = Field(default=None, alias="expiresAt")
    # ``succeed``: JSON strings in DynamoDB (variantsJson, imageJson), parsed here. Keys,
    # no URLs: readers derive those (``delivery.delivered``), so the item stays small (every
    # started KB is one more write unit, in the table and in each index holding it).
    variants: list[PublishedVariant] = Field(default_factory=list)
    image: dict[str, Any] | None = None  # imaging.ImageInfo as validation reported it
    rejection_code: str | None = Field(default=None, alias="rejectionCode")
    rejection_message: str | None = Field(default=None, alias="rejectionMessage")
    error: str | None = None
    cause: str | None = None
    # The re-run guard (``claim_rerun``): the attempt a re-run was started for, and when.
    rerun_attempt: int | None = Field(default=None, alias="rerunAttempt")
    rerun_at: str | None = Field(default=None, alias="rerunAt")
    # OriginalRetention (``mark_original``): when every version of the original was deleted,
    # or from when a lifecycle rule expires it.
    original_deleted_at: str | None = Field(default=None, alias="originalDeletedAt")
    original_expires_at: str | None = Field(default=None, alias="originalExpiresAt")

    @model_validator(mode="before")
    @classmethod
    def _derived(cls, data: Any) -> Any:
        """What the item leaves out because it follows from the rest (it stays under 1 KB)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        # ``succeed`` writes no completedAt: an outcome is written with updatedAt = the
        # moment it completed, and no later write of a finished attempt touches updatedAt.
        if data.get("status") != Status.PROCESSING.value and not data.get("completedAt"):
            data["completedAt"] = data.get("updatedAt") or None
        # imageJson is stored without its unset facts (Validate's output): readers see them null.
        if isinstance(data.get("image"), dict):
            with contextlib.suppress(ValidationError):  # an older shape: shown as stored
                data["image"] = ImageInfo.model_validate(data["image"]).model_dump(mode="json")
        return data

    @property
    def in_flight(self) -> bool:
        """An attempt is processing and not yet abandoned."""
        return self.status is Status.PROCESSING and self.updated_at >= stale_cutoff()

    def plain(self) -> dict[str, Any]:
        """The record as JSON (CLI ``--json``, tests)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# Attributes stored under another name than the model's (JSON documents in a string).
_JSON_ATTRIBUTES = {"variantsJson": "variants", "imageJson": "image", "manifestJson": "manifest"}


def _to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in values.items() if v is not None}


def from_item(item: dict[str, Any]) -> ProcessingRecord:
    record = {k: _deserializer.deserialize(v) for k, v in item.items()}
    for stored, name in _JSON_ATTRIBUTES.items():
        if stored in record:
            record[name] = json.loads(record.pop(stored))
    record = _plain(record)
    if isinstance(record.get("variants"), list) and isinstance(record.get("processingId"), str):
        prefix = keys.image_prefix(record["processingId"])
        record["variants"] = [PublishedVariant.from_stored(v, prefix) for v in record["variants"]]
    return ProcessingRecord.model_validate(record)


def stored_variants(pid: str, variants: list[PublishedVariant]) -> str:
    """variantsJson as ``succeed`` writes it (Publish's output: the short form, compact)."""
    prefix = keys.image_prefix(pid)
    return json.dumps([v.stored(prefix) for v in variants], separators=(",", ":"))


def known_attributes() -> set[str]:
    """Every attribute name a record item may have (for the writers' shape test)."""
    names = {field.alias or name for name, field in ProcessingRecord.model_fields.items()}
    renamed = {name: stored for stored, name in _JSON_ATTRIBUTES.items()}
    return {renamed.get(name, name) for name in names}


def _plain(value: Any) -> Any:
    """Decimals from DynamoDB → int/float, so records serialise as JSON."""
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
    # Without the ETag: nothing reads it back (a re-run names the version), and the item must
    # stay under 1 KB once ``succeed`` has added the variants.
    source_map = source.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"etag"})
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
                "REMOVE #error, cause, rejectionCode, rejectionMessage, completedAt"
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
                    ":stale": stale_cutoff(moment),
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
        attempt=record.attempt,
        source=source,
        executionArn=execution_arn,
        uploadId=record.upload_id,
        originalDeletedAt=record.original_deleted_at,
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
    existing = get(table, pid)
    own = existing is not None and _owned_by(existing, execution_arn)
    job = Job(
        processingId=pid,
        attempt=existing.attempt if existing else 1,
        source=source,
        executionArn=execution_arn,
        duplicate=not own,
        uploadId=existing.upload_id if existing and own else upload_id,
    )
    return Claim(job, duplicate=not own)


def _owned_by(record: ProcessingRecord, execution_arn: str) -> bool:
    """Whether ``execution_arn`` holds the record's attempt in flight."""
    arns = record.execution_arns
    return record.status is Status.PROCESSING and bool(arns) and arns[-1] == execution_arn


def succeed(
    table: str, job: Job, variants: list[PublishedVariant], image: ImageInfo | None
) -> None:
    """Record ``job`` SUCCEEDED with its published variants (Publish Variants, once its
    manifest is written): conditional on the attempt still processing and being the latest.

    No completedAt (readers derive it from updatedAt) and the short forms: the item stays
    under 1 KB. A retry of the same attempt after this write finds its own outcome and leaves
    it as it is; a newer attempt's record raises :class:`AttemptSuperseded`.
    """
    values = {
        ":status": Status.SUCCEEDED.value,
        ":processing": Status.PROCESSING.value,
        ":attempt": job.attempt,
        ":now": iso(now()),
        ":variants": stored_variants(job.processing_id, variants),
        # Validate's output as $image held it: without its unset facts
        ":image": json.dumps(
            image.model_dump(mode="json", exclude_none=True) if image else None,
            separators=(",", ":"),
        ),
    }
    try:
        client("dynamodb").update_item(
            TableName=table,
            Key={"processingId": {"S": job.processing_id}},
            UpdateExpression="SET #status = :status, updatedAt = :now, "
            "variantsJson = :variants, imageJson = :image",
            ConditionExpression="#status = :processing AND attempt = :attempt",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=_to_item(values),
            # What the record holds instead, without a read (and without dynamodb:GetItem)
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        held: dict[str, Any] = error.response.get("Item") or {}  # type: ignore[assignment]
        status, attempt = held.get("status", {}).get("S"), held.get("attempt", {}).get("N")
        if status == Status.SUCCEEDED.value and attempt == str(job.attempt):
            return  # this attempt's own outcome: a retry of Publish after the write
        raise AttemptSuperseded(
            f"{job.processing_id}: attempt {job.attempt} is not the record's ({attempt}, {status})"
        ) from error


def release(table: str, pid: str, execution_arn: str, *, error: str, cause: str) -> Job | None:
    """End the attempt ``execution_arn`` holds as FAILED; None if it holds none.

    For an execution that claimed a record and then could not go on (Register failing after
    its write, an execution that ended without recording an outcome): without this the record
    would stay PROCESSING and a re-run would be refused until it is stale.
    """
    record = get(table, pid)
    if record is None or record.source is None or not _owned_by(record, execution_arn):
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
                    ":attempt": record.attempt,
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
        attempt=record.attempt,
        source=record.source,
        executionArn=execution_arn,
        uploadId=record.upload_id,
    )


def reopen(table: str, job: Job, *, error: str, updated_at: str) -> None:
    """Undo :func:`release` of ``job`` (its dead letter could not be sent): PROCESSING again
    with its old ``updatedAt``, so the next sweep finds it stale and tries again."""
    try:
        client("dynamodb").update_item(
            TableName=table,
            Key={"processingId": {"S": job.processing_id}},
            UpdateExpression="SET #status = :processing, updatedAt = :then "
            "REMOVE completedAt, #error, cause",
            ConditionExpression="#status = :failed AND attempt = :attempt AND #error = :error",
            ExpressionAttributeNames={"#status": "status", "#error": "error"},
            ExpressionAttributeValues=_to_item(
                {
                    ":processing": Status.PROCESSING.value,
                    ":failed": Status.FAILED.value,
                    ":attempt": job.attempt,
                    ":error": error,
                    ":then": updated_at,
                }
            ),
        )
    except ClientError as failure:
        if failure.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise  # a re-run took the record meanwhile: it is no longer the sweep's


def abandoned(table: str, *, limit: int = 5) -> list[ProcessingRecord]:
    """PROCESSING records nobody touched since the stale cutoff, oldest first (one Query)."""
    response = client("dynamodb").query(
        TableName=table,
        IndexName=STATUS_INDEX,
        KeyConditionExpression="#status = :processing AND updatedAt < :stale",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues=_to_item(
            {":processing": Status.PROCESSING.value, ":stale": stale_cutoff()}
        ),
        Limit=limit,
    )
    return [from_item(item) for item in response.get("Items", [])]


def mark_original(
    table: str, job: Job, *, deleted_at: str | None = None, expires_at: str | None = None
) -> None:
    """Note on the succeeded attempt ``job`` what became of its original.

    Conditional on that attempt having succeeded and still being the record's latest, so a
    late retry never writes onto a newer attempt.
    """
    values = {"originalDeletedAt": deleted_at, "originalExpiresAt": expires_at}
    chosen = {name: value for name, value in values.items() if value is not None}
    if not chosen:
        return
    try:
        client("dynamodb").update_item(
            TableName=table,
            Key={"processingId": {"S": job.processing_id}},
            UpdateExpression="SET " + ", ".join(f"{name} = :{name}" for name in chosen),
            ConditionExpression="#status = :succeeded AND attempt = :attempt",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=_to_item(
                {
                    ":succeeded": Status.SUCCEEDED.value,
                    ":attempt": job.attempt,
                    **{f":{name}": value for name, value in chosen.items()},
                }
            ),
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise


def get(table: str, pid: str) -> ProcessingRecord | None:
    item = (
        client("dynamodb")
        .get_item(TableName=table, Key={"processingId": {"S": pid}}, ConsistentRead=True)
        .get("Item")
    )
    return from_item(item) if item else None


def _of_upload_ids(table: str, upload_id: str, index: str, *, latest: bool) -> list[str]:
    """processingIds of an upload's records, newest first (the index holds keys only)."""
    query: dict[str, Any] = {
        "TableName": table,
        "IndexName": index,
        "KeyConditionExpression": "uploadId = :u",
        "ExpressionAttributeValues": {":u": {"S": upload_id}},
        "ScanIndexForward": False,
    }
    if latest:
        found = client("dynamodb").query(**query, Limit=1).get("Items", [])
        return [item["processingId"]["S"] for item in found]
    pages = client("dynamodb").get_paginator("query").paginate(**query)
    return [item["processingId"]["S"] for page in pages for item in page.get("Items", [])]


def find_by_upload(
    table: str, upload_id: str, index: str = UPLOAD_INDEX
) -> ProcessingRecord | None:
    """The latest record of an API upload id."""
    ids = _of_upload_ids(table, upload_id, index, latest=True)
    return get(table, ids[0]) if ids else None


def find(table: str, ident: str, upload_index: str = UPLOAD_INDEX) -> ProcessingRecord | None:
    """An id is an uploadId (32 hex, API uploads) or a processingId (any object version)."""
    if keys.UPLOAD_ID.match(ident):
        return find_by_upload(table, ident, upload_index)
    if keys.PROCESSING_ID.match(ident):
        return get(table, ident)
    return None


def of_upload(
    table: str, upload_id: str | None, index: str = UPLOAD_INDEX
) -> list[ProcessingRecord]:
    """Every record of one API upload (one per object version it had; a GetItem each)."""
    if not upload_id:
        return []
    found = (get(table, pid) for pid in _of_upload_ids(table, upload_id, index, latest=False))
    return [record for record in found if record is not None]


def claim_rerun(table: str, record: ProcessingRecord) -> bool:
    """The re-run guard: one conditional write decides who may start the next attempt.

    It succeeds only while the record is still at the attempt its caller read, no attempt is in
    flight, and no other re-run was claimed for the next attempt (unless that claim is
    abandoned). Every re-run path (API, ``imgpipe rerun``, DLQ redrive) goes through it.
    """
    moment = now()
    try:
        client("dynamodb").update_item(
            TableName=table,
            Key={"processingId": {"S": record.processing_id}},
            UpdateExpression="SET rerunAttempt = :next, rerunAt = :now",
            ConditionExpression=(
                "attribute_exists(processingId) AND attempt = :attempt "
                "AND (#status <> :processing OR updatedAt < :stale) "
                "AND (attribute_not_exists(rerunAttempt) OR rerunAttempt <> :next "
                "OR rerunAt < :stale)"
            ),
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=_to_item(
                {
                    ":next": record.attempt + 1,
                    ":now": iso(moment),
                    ":attempt": record.attempt,
                    ":processing": Status.PROCESSING.value,
                    ":stale": stale_cutoff(moment),
                }
            ),
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def release_rerun(table: str, record: ProcessingRecord) -> None:
    """Give a claimed re-run back (its execution could not be started)."""
    try:
        client("dynamodb").update_item(
            TableName=table,
            Key={"processingId": {"S": record.processing_id}},
            UpdateExpression="REMOVE rerunAttempt, rerunAt",
            ConditionExpression="rerunAttempt = :next",
            ExpressionAttributeValues={":next": {"N": str(record.attempt + 1)}},
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise


class InFlight(Exception):
    """The record has an attempt in flight; it cannot be deleted now."""


def delete(table: str, pid: str) -> bool:
    """Delete a record unless an attempt is in flight; False if it was already gone.

    Conditional, so of concurrent deletes exactly one learns it deleted the record.
    """
    try:
        client("dynamodb").delete_item(
            TableName=table,
            Key={"processingId": {"S": pid}},
            ConditionExpression=(
                "attribute_exists(processingId) AND (#status <> :processing OR updatedAt < :stale)"
            ),
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=_to_item(
                {":processing": Status.PROCESSING.value, ":stale": stale_cutoff()}
            ),
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        if get(table, pid) is not None:
            raise InFlight(pid) from error
        return False
    return True


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
) -> tuple[list[ProcessingRecord], Positions | None]:
    """Newest first from the status index; without a status, every status is merged.

    ``after`` continues a previous page; the positions returned continue this one, and are
    ``None`` once every status is exhausted.
    """
    after = after or {}
    statuses = [status] if status else list(Status)
    pages: dict[Status, list[ProcessingRecord]] = {}
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
    merged = heapq.merge(*pages.values(), key=lambda record: record.updated_at, reverse=True)
    taken = list(itertools.islice(merged, limit))
    positions: Positions = {}
    for one in statuses:
        mine = [record for record in taken if record.status is one]
        if one in exhausted and len(mine) == len(pages.get(one, [])):
            positions[one] = LISTING_DONE
        elif mine:
            positions[one] = _index_key(mine[-1])
        elif (previous := after.get(one)) is not None:
            positions[one] = previous
    if all(positions.get(one) == LISTING_DONE for one in statuses):
        return taken, None
    return taken, positions


def _index_key(record: ProcessingRecord) -> dict[str, Any]:
    return {
        "processingId": {"S": record.processing_id},
        "status": {"S": record.status.value},
        "updatedAt": {"S": record.updated_at},
    }


def select(table: str, status: Status, since: str | None = None) -> list[ProcessingRecord]:
    """Every record of one status from the status index, updated at or after ``since``."""
    condition = "#status = :s"
    values: dict[str, Any] = {":s": {"S": status.value}}
    if since:
        condition += " AND updatedAt >= :since"
        values[":since"] = {"S": since}
    found: list[ProcessingRecord] = []
    paginator = client("dynamodb").get_paginator("query")
    for page in paginator.paginate(
        TableName=table,
        IndexName=STATUS_INDEX,
        KeyConditionExpression=condition,
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues=values,
    ):
        found.extend(from_item(item) for item in page.get("Items", []))
    return found


def merge_variants(table: str, record: ProcessingRecord, variants: list[PublishedVariant]) -> bool:
    """Replace a SUCCEEDED record's variants; False if another attempt took it meanwhile."""
    try:
        client("dynamodb").update_item(
            TableName=table,
            Key={"processingId": {"S": record.processing_id}},
            # manifestUrl: what records written before URLs were derived still carry.
            UpdateExpression="SET variantsJson = :variants REMOVE manifestUrl",
            ConditionExpression="#status = :succeeded AND attempt = :attempt",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=_to_item(
                {
                    ":variants": stored_variants(record.processing_id, variants),
                    ":succeeded": Status.SUCCEEDED.value,
                    ":attempt": record.attempt,
                }
            ),
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True
