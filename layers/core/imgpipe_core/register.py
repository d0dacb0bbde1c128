"""Register: turn an execution input into a claimed processing attempt (a Job)."""

from __future__ import annotations

from pydantic import ValidationError

from imgpipe_core import keys, records
from imgpipe_core.config import Settings
from imgpipe_core.errors import ImgpipeError
from imgpipe_core.models import Job, ObjectCreatedEvent, RegisterInput, RerunRequest


class InvalidExecutionInput(ImgpipeError):
    """The execution input is neither an S3 "Object Created" event nor a re-run request."""


def register(request: RegisterInput, settings: Settings) -> Job:
    raw = request.input
    rerun = "processingId" in raw
    try:
        if rerun:
            rerun_request = RerunRequest.model_validate(raw)
            source = rerun_request.source
            pid = rerun_request.processing_id
            if not keys.PROCESSING_ID.match(pid):
                raise InvalidExecutionInput(f"malformed processingId {pid!r}")
        else:
            source = ObjectCreatedEvent.model_validate(raw).to_source()
            pid = keys.processing_id(source.bucket, source.key, source.version_id)
    except ValidationError as error:
        raise InvalidExecutionInput(str(error)) from error
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
