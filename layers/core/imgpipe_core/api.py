"""The HTTP API: presigned uploads, status, listing, re-runs, deletion and execution traces.

Routes are thin: each parses its input into a model, calls one function below, and returns a
model. ``create_app(settings)`` builds the Powertools resolver (the Lambda handler calls it
once per cold start); api/openapi.yaml documents every route and is checked against it.

Errors are one JSON shape, ``{"error": {"code": ..., "message": ...}}``, raised as ``ApiError``.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import re
import unicodedata
import uuid
from functools import cache
from http import HTTPStatus
from typing import Any

import boto3
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, CORSConfig, Response
from botocore.config import Config
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from imgpipe_core import keys, records, reruns, responsive, storage
from imgpipe_core.clients import client
from imgpipe_core.config import Settings
from imgpipe_core.models import Status
from imgpipe_core.observability import logger
from imgpipe_core.responsive import Responsive
from imgpipe_core.trace import StateSpan, build_timeline

ALLOWED_CONTENT_TYPES = (
    *("image/jpeg", "image/png", "image/webp", "image/gif"),
    *("image/heic", "image/heif", "image/avif"),
)
PENDING = "PENDING"  # uploaded (or about to be), not registered by the pipeline yet
MAX_PAGE = 100
DEFAULT_PAGE = 20
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")
_CURSOR_KEYS = {"processingId", "status", "updatedAt"}


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


# -- models -------------------------------------------------------------------------------------


class ApiModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class UploadRequest(ApiModel):
    filename: str = Field(min_length=1, max_length=1024)
    content_type: str = Field(alias="contentType", min_length=1)
    size: int


class PresignedPost(ApiModel):
    url: str
    fields: dict[str, str]


class UploadResponse(ApiModel):
    upload_id: str = Field(alias="uploadId")
    key: str
    upload: PresignedPost
    expires_at: str = Field(alias="expiresAt")
    max_bytes: int = Field(alias="maxBytes")
    status_url: str = Field(alias="statusUrl")


class VariantView(ApiModel):
    variant: str
    url: str
    key: str | None = None
    width: int
    height: int
    bytes: int
    format: str | None = None
    content_type: str | None = Field(default=None, alias="contentType")


class Rejection(ApiModel):
    code: str
    message: str | None = None


class Failure(ApiModel):
    error: str | None = None
    cause: str | None = None


class ImageView(ApiModel):
    status: str
    processing_id: str | None = Field(default=None, alias="processingId")
    upload_id: str | None = Field(default=None, alias="uploadId")
    attempt: int | None = None
    filename: str | None = None
    source_key: str | None = Field(default=None, alias="sourceKey")
    source_size: int | None = Field(default=None, alias="sourceSize")
    image: dict[str, Any] | None = None  # the original's dimensions, format, frames...
    variants: list[VariantView] = Field(default_factory=list)
    responsive: Responsive | None = None  # srcset lists and a <picture> snippet
    manifest_url: str | None = Field(default=None, alias="manifestUrl")
    rejection: Rejection | None = None
    failure: Failure | None = None
    execution_arns: list[str] = Field(default_factory=list, alias="executionArns")
    created_at: str | None = Field(default=None, alias="createdAt")
    updated_at: str | None = Field(default=None, alias="updatedAt")
    completed_at: str | None = Field(default=None, alias="completedAt")


class ImageList(ApiModel):
    items: list[ImageView]
    cursor: str | None = None


class RerunResponse(ApiModel):
    started: bool
    processing_id: str = Field(alias="processingId")
    execution_arn: str | None = Field(default=None, alias="executionArn")
    reason: str | None = None


class TraceResponse(ApiModel):
    processing_id: str = Field(alias="processingId")
    execution_arn: str = Field(alias="executionArn")
    status: str
    start: str | None = None
    end: str | None = None
    states: list[StateSpan]


def _json(model: BaseModel, status: int = 200) -> Response:
    body = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return Response(status, "application/json", json.dumps(body))


def error_response(status: HTTPStatus, code: str, message: str) -> Response:
    body = {"error": {"code": code, "message": message}}
    return Response(int(status), "application/json", json.dumps(body))


# -- logic ----------------------------------------------------------------------------------------


def sanitise_filename(name: str) -> str:
    """Only for metadata: ASCII letters, digits and ``._ -``; never part of a key."""
    base = re.split(r"[\\/]", name)[-1]
    ascii_name = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    cleaned = _FILENAME_UNSAFE.sub("_", ascii_name).strip(" .")[:200]
    return cleaned or "upload"


def parse_upload_request(body: str | None) -> UploadRequest:
    try:
        payload = json.loads(body or "")
    except ValueError as error:
        raise ApiError(HTTPStatus.BAD_REQUEST, "INVALID_JSON", "body must be JSON") from error
    if not isinstance(payload, dict):
        raise ApiError(HTTPStatus.BAD_REQUEST, "INVALID_JSON", "body must be a JSON object")
    try:
        request = UploadRequest.model_validate(payload)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in error.errors()
        )
        raise ApiError(HTTPStatus.BAD_REQUEST, "INVALID_REQUEST", problems) from error
    return request


@cache
def _presigner() -> Any:
    # SigV4: boto3's default for presigned POST is still SigV2, which new regions refuse.
    return boto3.client("s3", config=Config(signature_version="s3v4"))


def presign_upload(request: UploadRequest, settings: Settings, base_url: str) -> UploadResponse:
    if request.content_type not in ALLOWED_CONTENT_TYPES:
        raise ApiError(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            f"contentType must be one of {', '.join(ALLOWED_CONTENT_TYPES)}",
        )
    if request.size <= 0:
        raise ApiError(HTTPStatus.BAD_REQUEST, "INVALID_SIZE", "size must be at least 1 byte")
    if request.size > settings.max_bytes:
        raise ApiError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            "FILE_TOO_LARGE",
            f"size {request.size} is over the limit of {settings.max_bytes} bytes",
        )
    upload_id = uuid.uuid4().hex
    key = f"{settings.upload_prefix}{upload_id}"
    filename = sanitise_filename(request.filename)
    fields = {"Content-Type": request.content_type, "x-amz-meta-filename": filename}
    # S3 itself enforces these: the declared size and type are only a courtesy check.
    conditions: list[Any] = [
        ["content-length-range", 1, settings.max_bytes],
        {"Content-Type": request.content_type},
        {"x-amz-meta-filename": filename},
    ]
    post = _presigner().generate_presigned_post(
        Bucket=settings.private_bucket,
        Key=key,
        Fields=fields,
        Conditions=conditions,
        ExpiresIn=settings.presign_expires,
    )
    expires = records.now() + datetime.timedelta(seconds=settings.presign_expires)
    return UploadResponse(
        uploadId=upload_id,
        key=key,
        upload=PresignedPost(url=post["url"], fields=post["fields"]),
        expiresAt=records.iso(expires),
        maxBytes=settings.max_bytes,
        statusUrl=f"{base_url}/images/{upload_id}",
    )


def find_record(settings: Settings, ident: str) -> dict[str, Any] | None:
    """An id is an uploadId (32 hex, API uploads) or a processingId (any object version)."""
    if keys.UPLOAD_ID.match(ident):
        return records.find_by_upload(settings.table_name, ident)
    if keys.PROCESSING_ID.match(ident):
        return records.get(settings.table_name, ident)
    return None


def _not_found(ident: str) -> ApiError:
    return ApiError(HTTPStatus.NOT_FOUND, "NOT_FOUND", f"no image with id {ident!r}")


def view(record: dict[str, Any]) -> ImageView:
    source = record.get("source") or {}
    rejection = (
        Rejection(code=record["rejectionCode"], message=record.get("rejectionMessage"))
        if record.get("rejectionCode")
        else None
    )
    failure = (
        Failure(error=record.get("error"), cause=record.get("cause"))
        if record.get("error") or record.get("cause")
        else None
    )
    return ImageView(
        status=record["status"],
        processingId=record["processingId"],
        uploadId=record.get("uploadId"),
        attempt=record.get("attempt"),
        sourceKey=source.get("key"),
        sourceSize=source.get("size"),
        image=record.get("image"),
        variants=[VariantView.model_validate(v) for v in record.get("variants") or []],
        responsive=responsive.for_record(record),
        manifestUrl=record.get("manifestUrl"),
        rejection=rejection,
        failure=failure,
        executionArns=list(record.get("executionArns") or []),
        createdAt=record.get("createdAt"),
        updatedAt=record.get("updatedAt"),
        completedAt=record.get("completedAt"),
    )


def get_image(settings: Settings, ident: str) -> ImageView:
    record = find_record(settings, ident)
    if record is not None:
        return view(record)
    if keys.UPLOAD_ID.match(ident):
        # Between the browser's POST to S3 and Register Upload there is no record yet.
        head = _head_upload(settings, ident)
        if head is not None:
            return ImageView(
                status=PENDING,
                uploadId=ident,
                sourceKey=f"{settings.upload_prefix}{ident}",
                sourceSize=head.get("ContentLength"),
                filename=(head.get("Metadata") or {}).get("filename"),
            )
    raise _not_found(ident)


def _head_upload(settings: Settings, upload_id: str) -> dict[str, Any] | None:
    try:
        return dict(
            client("s3").head_object(
                Bucket=settings.private_bucket, Key=f"{settings.upload_prefix}{upload_id}"
            )
        )
    except ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchKey", "403"):
            return None
        raise


def encode_cursor(positions: records.Positions | None) -> str | None:
    """The next page's cursor: where the listing stopped in each status (opaque to clients)."""
    if not positions:
        return None
    plain = {status.value: position for status, position in positions.items()}
    return base64.urlsafe_b64encode(json.dumps(plain, sort_keys=True).encode()).decode()


def decode_cursor(cursor: str, status: Status | None) -> records.Positions:
    """Positions from a cursor this API issued for the same filter; anything else is refused."""
    invalid = ApiError(HTTPStatus.BAD_REQUEST, "INVALID_CURSOR", "cursor is not valid")
    try:
        plain = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise invalid from error
    allowed = {status.value} if status else {one.value for one in Status}
    if not (isinstance(plain, dict) and plain and set(plain) <= allowed):
        raise invalid
    positions: records.Positions = {}
    for name, position in plain.items():
        if position != records.LISTING_DONE and not _is_index_key(position, name):
            raise invalid
        positions[Status(name)] = position
    return positions


def _is_index_key(key: object, status: str) -> bool:
    return (
        isinstance(key, dict)
        and set(key) == _CURSOR_KEYS
        and all(
            isinstance(value, dict) and list(value) == ["S"] and isinstance(value["S"], str)
            for value in key.values()
        )
        and key["status"]["S"] == status
    )


def list_images(
    settings: Settings, status: str | None, limit: str | None, cursor: str | None
) -> ImageList:
    parsed_status: Status | None = None
    if status:
        try:
            parsed_status = Status(status.upper())
        except ValueError as error:
            allowed = ", ".join(s.value for s in Status)
            raise ApiError(
                HTTPStatus.BAD_REQUEST, "INVALID_STATUS", f"status must be one of {allowed}"
            ) from error
    try:
        size = int(limit) if limit else DEFAULT_PAGE
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_PAGE:
        raise ApiError(
            HTTPStatus.BAD_REQUEST, "INVALID_LIMIT", f"limit must be between 1 and {MAX_PAGE}"
        )
    after = decode_cursor(cursor, parsed_status) if cursor else None
    items, positions = records.list_records(
        settings.table_name, parsed_status, limit=size, after=after
    )
    return ImageList(items=[view(r) for r in items], cursor=encode_cursor(positions))


def rerun(settings: Settings, ident: str) -> RerunResponse:
    record = find_record(settings, ident)
    if record is None:
        raise _not_found(ident)
    pid = str(record["processingId"])
    # Between StartExecution and Register claiming the record, the record still looks
    # finished: the next attempt's execution itself tells that a re-run is under way.
    if _next_attempt_running(settings, pid, int(record.get("attempt", 1))):
        return RerunResponse(started=False, processingId=pid, reason="already running")
    try:
        started = reruns.start_rerun(settings.table_name, settings.state_machine_arn, pid)
    except reruns.RecordNotFound as error:
        raise _not_found(ident) from error
    if started.already_running:
        return RerunResponse(started=False, processingId=pid, reason="already running")
    return RerunResponse(started=True, processingId=pid, executionArn=started.execution_arn)


def _next_attempt_running(settings: Settings, pid: str, attempt: int) -> bool:
    machine = settings.state_machine_arn
    name = keys.execution_name(pid, attempt + 1)
    arn = machine.replace(":stateMachine:", ":execution:", 1) + f":{name}"
    try:
        described = client("stepfunctions").describe_execution(executionArn=arn)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("ExecutionDoesNotExist", "ResourceNotFound"):
            return False
        raise
    return bool(described.get("status") == "RUNNING")


def delete_image(settings: Settings, ident: str) -> None:
    """Withdraw the variants, invalidate the CDN, delete the original's versions, then the
    records (last, so a delete that fails half-way can simply be repeated)."""
    record = find_record(settings, ident)
    if record is None:
        raise _not_found(ident)
    related = _records_of_upload(settings, record.get("uploadId")) or [record]
    if any(_in_flight(r) for r in related):
        raise ApiError(
            HTTPStatus.CONFLICT, "PROCESSING", "the image is being processed; retry when done"
        )
    for one in related:
        pid = str(one["processingId"])
        published = storage.list_keys(settings.public_bucket, f"images/{pid}/")
        storage.delete_keys(settings.public_bucket, published)
        _invalidate(settings, pid)
    for key in sorted({str((r.get("source") or {}).get("key")) for r in related} - {"None"}):
        bucket = str((related[0].get("source") or {}).get("bucket") or settings.private_bucket)
        _delete_all_versions(bucket, key)
    for one in related:
        client("dynamodb").delete_item(
            TableName=settings.table_name, Key={"processingId": {"S": str(one["processingId"])}}
        )
    logger.info("deleted", extra={"processingIds": [r["processingId"] for r in related]})


def _in_flight(record: dict[str, Any]) -> bool:
    stale = records.iso(records.now() - records.STALE_AFTER)
    return record["status"] == Status.PROCESSING.value and record.get("updatedAt", "") >= stale


def _records_of_upload(settings: Settings, upload_id: str | None) -> list[dict[str, Any]]:
    if not upload_id:
        return []
    found: list[dict[str, Any]] = []
    paginator = client("dynamodb").get_paginator("query")
    for page in paginator.paginate(
        TableName=settings.table_name,
        IndexName=records.UPLOAD_INDEX,
        KeyConditionExpression="uploadId = :u",
        ExpressionAttributeValues={":u": {"S": upload_id}},
    ):
        found.extend(records.from_item(item) for item in page.get("Items", []))
    return found


def _invalidate(settings: Settings, pid: str) -> None:
    if not settings.cdn_distribution_id:
        return
    client("cloudfront").create_invalidation(
        DistributionId=settings.cdn_distribution_id,
        InvalidationBatch={
            "Paths": {"Quantity": 1, "Items": [f"/images/{pid}/*"]},
            "CallerReference": f"{pid}-{uuid.uuid4().hex}",
        },
    )


def _delete_all_versions(bucket: str, key: str) -> None:
    s3 = client("s3")
    doomed: list[dict[str, str]] = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
            if entry["Key"] == key:
                doomed.append({"Key": key, "VersionId": entry["VersionId"]})
    for start in range(0, len(doomed), 1000):
        s3.delete_objects(
            Bucket=bucket, Delete={"Objects": doomed[start : start + 1000], "Quiet": True}
        )


def trace(settings: Settings, ident: str) -> TraceResponse:
    record = find_record(settings, ident)
    if record is None or not record.get("executionArns"):
        raise _not_found(ident)
    arn = str(record["executionArns"][-1])
    sfn = client("stepfunctions")
    try:
        described = sfn.describe_execution(executionArn=arn)
        events: list[dict[str, Any]] = []
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
            events.extend(page["events"])
    except ClientError as error:
        if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
            raise ApiError(
                HTTPStatus.NOT_FOUND, "EXECUTION_NOT_FOUND", "the execution has expired"
            ) from error
        raise
    stop = described.get("stopDate")
    return TraceResponse(
        processingId=record["processingId"],
        executionArn=arn,
        status=described["status"],
        start=records.iso(described["startDate"]),
        end=records.iso(stop) if stop else None,
        states=build_timeline(events),
    )


# -- the resolver -------------------------------------------------------------------------------


def _cors(settings: Settings) -> CORSConfig:
    origins = [o.strip() for o in settings.allowed_origins.split(",") if o.strip()] or ["*"]
    return CORSConfig(
        allow_origin=origins[0],
        extra_origins=origins[1:],
        allow_headers=["Content-Type", "Authorization", "X-Amz-Date", "X-Amz-Security-Token"],
        max_age=600,
    )


def _base_url(app: APIGatewayHttpResolver) -> str:
    event = app.current_event
    headers = {k.lower(): v for k, v in (event.headers or {}).items()}
    proto = headers.get("x-forwarded-proto", "https")
    host = event.request_context.domain_name or headers.get("host", "")
    return f"{proto}://{host}"


def create_app(settings: Settings) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(cors=_cors(settings))

    @app.exception_handler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error_response(error.status, error.code, error.message)

    @app.not_found
    def _no_route(_: Exception) -> Response:
        return error_response(HTTPStatus.NOT_FOUND, "ROUTE_NOT_FOUND", "no such route")

    @app.get("/health")
    def health() -> Response:
        return Response(200, "application/json", json.dumps({"status": "ok"}))

    @app.post("/uploads")
    def create_upload() -> Response:
        request = parse_upload_request(app.current_event.body)
        return _json(presign_upload(request, settings, _base_url(app)), 201)

    @app.get("/images")
    def list_route() -> Response:
        event = app.current_event
        result = list_images(
            settings,
            event.get_query_string_value("status"),
            event.get_query_string_value("limit"),
            event.get_query_string_value("cursor"),
        )
        return _json(result)

    @app.get("/images/<ident>")
    def get_route(ident: str) -> Response:
        return _json(get_image(settings, ident))

    @app.get("/images/<ident>/trace")
    def trace_route(ident: str) -> Response:
        return _json(trace(settings, ident))

    @app.post("/images/<ident>/rerun")
    def rerun_route(ident: str) -> Response:
        result = rerun(settings, ident)
        return _json(result, 202 if result.started else 200)

    @app.delete("/images/<ident>")
    def delete_route(ident: str) -> Response:
        delete_image(settings, ident)
        return Response(204, None, "")

    return app


def routes(app: APIGatewayHttpResolver) -> list[tuple[str, str]]:
    """(method, OpenAPI path) of every route, for the OpenAPI document check."""
    registered = app._static_routes + app._dynamic_routes
    return sorted(
        (r.method.upper(), re.sub(r"<(\w+)>", r"{\1}", r.path).replace("{ident}", "{id}"))
        for r in registered
    )
