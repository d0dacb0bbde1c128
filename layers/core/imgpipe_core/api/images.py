"""Status, listing, re-runs, deletion and traces of images (logic over the data modules)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import cast

from imgpipe_core import cdn, delivery, executions, keys, records, reruns, responsive, storage
from imgpipe_core.api import cursor
from imgpipe_core.api.models import (
    PENDING,
    ApiError,
    Failure,
    ImageList,
    ImageStatus,
    ImageView,
    Rejection,
    RerunResponse,
    TraceResponse,
    not_found,
)
from imgpipe_core.config import Settings
from imgpipe_core.models import Status
from imgpipe_core.observability import logger
from imgpipe_core.trace import build_timeline

ALREADY_RUNNING = "already running"


def _filename(record: records.ProcessingRecord) -> str | None:
    """The sanitised name the upload was given (S3 metadata of the original), if it has one."""
    if record.source is None:
        return None
    # The latest version's metadata: HeadObject of a version would need GetObjectVersion.
    head = storage.head_key(record.source.bucket, record.source.key)
    return (head or {}).get("Metadata", {}).get("filename")


def view(
    record: records.ProcessingRecord,
    filename: str | None,
    settings: Settings,
    signer: delivery.UrlSigner | None,
) -> ImageView:
    """The record as the API shows it; its URLs derived from the keys (``delivery.delivered``)."""
    shown = delivery.delivered(record, settings.public_base_url, signer)
    rejection = (
        Rejection(code=record.rejection_code, message=record.rejection_message)
        if record.rejection_code
        else None
    )
    failure = (
        Failure(error=record.error, cause=record.cause) if record.error or record.cause else None
    )
    source = record.source
    return ImageView(
        status=cast(ImageStatus, record.status.value),
        processingId=record.processing_id,
        uploadId=record.upload_id,
        attempt=record.attempt,
        filename=filename,
        sourceKey=source.key if source else None,
        sourceSize=source.size if source else None,
        image=record.image,
        variants=shown.get("variants", []),
        responsive=responsive.for_record(shown),
        manifestUrl=shown.get("manifestUrl"),
        originalDeletedAt=record.original_deleted_at,
        originalExpiresAt=record.original_expires_at,
        rejection=rejection,
        failure=failure,
        executionArns=record.execution_arns,
        createdAt=record.created_at,
        updatedAt=record.updated_at or None,
        completedAt=record.completed_at,
    )


def _find(settings: Settings, ident: str) -> records.ProcessingRecord:
    record = records.find(settings.table_name, ident, settings.upload_index)
    if record is None:
        raise not_found(ident)
    return record


def get_image(settings: Settings, ident: str) -> ImageView:
    record = records.find(settings.table_name, ident, settings.upload_index)
    if record is not None:
        return view(record, _filename(record), settings, delivery.signer_for(settings))
    if keys.UPLOAD_ID.match(ident):
        # Between the browser's POST to S3 and Register Upload there is no record yet.
        key = f"{settings.upload_prefix}{ident}"
        head = storage.head_key(settings.private_bucket, key)
        if head is not None:
            return ImageView(
                status=PENDING,
                uploadId=ident,
                sourceKey=key,
                sourceSize=head.get("ContentLength"),
                filename=(head.get("Metadata") or {}).get("filename"),
            )
    raise not_found(ident)


def list_images(
    settings: Settings, status: Status | None, limit: int, after: str | None
) -> ImageList:
    positions = cursor.decode(after, status) if after else None
    items, following = records.list_records(
        settings.table_name, status, limit=limit, after=positions
    )
    # The filenames live in the originals' metadata: one HeadObject each, side by side.
    with ThreadPoolExecutor(max_workers=8) as pool:
        names = list(pool.map(_filename, items))
    signer = delivery.signer_for(settings)
    listed = [
        view(record, name, settings, signer) for record, name in zip(items, names, strict=True)
    ]
    return ImageList(items=listed, cursor=cursor.encode(following))


def rerun(settings: Settings, ident: str) -> RerunResponse:
    pid = _find(settings, ident).processing_id
    try:
        started = reruns.start_rerun(settings.table_name, settings.state_machine_arn, pid)
    except reruns.RecordNotFound as error:
        raise not_found(ident) from error
    if started.already_running:
        return RerunResponse(started=False, processingId=pid, reason=ALREADY_RUNNING)
    return RerunResponse(started=True, processingId=pid, executionArn=started.execution_arn)


def delete_image(settings: Settings, ident: str) -> None:
    """Withdraw the variants, invalidate the CDN, delete the original's versions, then the
    records: last, so a delete that fails half-way can be repeated, and conditionally, so of
    concurrent deletes exactly one answers 204 and the others 404."""
    record = _find(settings, ident)
    related = records.of_upload(settings.table_name, record.upload_id, settings.upload_index) or [
        record
    ]
    if any(one.in_flight for one in related):
        raise _processing()
    for one in related:
        published = storage.list_keys(settings.public_bucket, f"images/{one.processing_id}/")
        storage.delete_keys(settings.public_bucket, published)
    cdn.invalidate(
        settings.cdn_distribution_id, [f"/images/{one.processing_id}/*" for one in related]
    )
    for source in {(one.source.bucket, one.source.key) for one in related if one.source}:
        storage.delete_all_versions(*source)
    others = [one for one in related if one.processing_id != record.processing_id]
    try:
        for one in others:
            records.delete(settings.table_name, one.processing_id)
        # The record the id named decides who deleted the image.
        deleted = records.delete(settings.table_name, record.processing_id)
    except records.InFlight as error:
        raise _processing() from error
    if not deleted:
        raise not_found(ident)
    logger.info("deleted", extra={"processingIds": [r.processing_id for r in related]})


def _processing() -> ApiError:
    return ApiError(
        HTTPStatus.CONFLICT, "PROCESSING", "the image is being processed; retry when done"
    )


def trace(settings: Settings, ident: str) -> TraceResponse:
    record = _find(settings, ident)
    if not record.execution_arns:
        raise not_found(ident)
    arn = record.execution_arns[-1]
    try:
        described, events = executions.read(
            arn,
            log_group=settings.pipeline_log_group,
            log_level=settings.pipeline_log_level,
            around=record.updated_at or None,  # written by this attempt's own states
        )
    except executions.NotLogged as error:
        raise ApiError(HTTPStatus.NOT_FOUND, "EXECUTION_NOT_LOGGED", str(error)) from error
    except executions.ExecutionGone as error:
        raise ApiError(
            HTTPStatus.NOT_FOUND, "EXECUTION_NOT_FOUND", "the execution has expired"
        ) from error
    except executions.LogQueryFailed as error:
        raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "TRACE_UNAVAILABLE", str(error)) from error
    stop = described.get("stopDate")
    return TraceResponse(
        processingId=record.processing_id,
        executionArn=arn,
        status=described["status"],
        start=records.iso(described["startDate"]),
        end=records.iso(stop) if stop else None,
        states=build_timeline(events),
        error=described.get("error"),
        cause=described.get("cause"),
        logLevel=settings.pipeline_log_level if executions.is_express(arn) else None,
    )
