"""Register: turn an execution input into a claimed processing attempt (a Job)."""

from __future__ import annotations

from typing import Any, NamedTuple

from botocore.exceptions import ClientError
from pydantic import ValidationError

from imgpipe_core import deadletters, keys, records
from imgpipe_core.config import Settings
from imgpipe_core.errors import ImgpipeError
from imgpipe_core.models import (
    Job,
    ObjectCreatedDetail,
    ObjectCreatedEvent,
    RegisterInput,
    RerunRequest,
    Source,
)


class InvalidExecutionInput(ImgpipeError):
    """The execution input is neither an S3 "Object Created" event nor a re-run request."""


def register(request: RegisterInput, settings: Settings) -> Job:
    pid, source, rerun = identify(request.input)
    claimed = records.claim(
        settings.table_name,
        pid,
        source,
        request.execution_arn,
        rerun=rerun,
        upload_id=keys.upload_id_from_key(source.key, settings.upload_prefix),
        ttl_days=settings.record_ttl_days,
    )
    return claimed.job


def release(request: RegisterInput, settings: Settings) -> Job | None:
    """After Register failed for good: end the attempt it may have claimed as FAILED."""
    failure = request.failure or {}
    try:
        pid, _, _ = identify(request.input)
    except InvalidExecutionInput:
        return None  # nothing was claimed for an input that names no upload
    return records.release(
        settings.table_name,
        pid,
        request.execution_arn,
        error=str(failure.get("Error") or "RegistrationFailed"),
        cause=str(failure.get("Cause") or ""),
    )


ABANDONED = "ExecutionAbandoned"


class Swept(NamedTuple):
    """processingIds a sweep dead-lettered, and those whose letter failed (left for the next)."""

    dead_lettered: list[str]
    retry_later: list[str]


def sweep_abandoned(settings: Settings) -> Swept:
    """End attempts nobody finished as FAILED and dead-letter them.

    For Express workflows: an execution that hits the 5-minute limit (or fails where no Catch
    reaches) ends without recording an outcome, and Express sends no status-change event a
    rule could dead-letter. Its record stays PROCESSING; past ``records.STALE_AFTER`` the
    next registration finds it here. The conditional release makes one sweeper the owner.
    """
    swept = Swept([], [])
    for record in records.abandoned(settings.table_name):
        arn = record.execution_arns[-1] if record.execution_arns else ""
        cause = f"no outcome recorded within {records.STALE_AFTER}: the execution ended early"
        job = records.release(
            settings.table_name, record.processing_id, arn, error=ABANDONED, cause=cause
        )
        if job is None:
            continue  # another sweeper, or the attempt itself, got there first
        letter = {
            "processingId": job.processing_id,
            "attempt": job.attempt,
            "source": job.source.model_dump(mode="json", by_alias=True, exclude_none=True),
            "error": ABANDONED,
            "cause": cause,
            "executionArn": arn,
            "failedAt": records.iso(records.now()),
        }
        try:
            deadletters.send(settings.dead_letter_queue_url, "ProcessingFailed", letter)
        except ClientError:
            # A FAILED record without its letter would never be swept again: undo, and let the
            # next registration retry. This upload's own registration is not failed for it.
            records.reopen(settings.table_name, job, error=ABANDONED, updated_at=record.updated_at)
            swept.retry_later.append(job.processing_id)
            continue
        swept.dead_lettered.append(job.processing_id)
    return swept


def identify(raw: dict[str, Any]) -> tuple[str, Source, bool]:
    """(processingId, source, is a re-run) of an execution input."""
    rerun = "processingId" in raw
    try:
        if rerun:
            rerun_request = RerunRequest.model_validate(raw)
            source = rerun_request.source
            pid = rerun_request.processing_id
            if not keys.PROCESSING_ID.match(pid):
                raise InvalidExecutionInput(f"malformed processingId {pid!r}")
        else:
            created = ObjectCreatedEvent if "detail" in raw else ObjectCreatedDetail
            source = created.model_validate(raw).to_source()
            pid = keys.processing_id(source.bucket, source.key, source.version_id)
    except ValidationError as error:
        raise InvalidExecutionInput(str(error)) from error
    return pid, source, rerun
