"""Validate Upload: size from GetObject's Content-Length first, then bytes, header, decode."""

from __future__ import annotations

from imgpipe_core import storage
from imgpipe_core.config import Settings
from imgpipe_core.errors import ImageRejected, RejectionCode
from imgpipe_core.imaging import inspect_image
from imgpipe_core.models import Job, Rejection, ValidateOutput


def _reject(code: RejectionCode, message: str) -> ValidateOutput:
    return ValidateOutput(valid=False, rejection=Rejection(code=code, message=message))


def validate(job: Job, settings: Settings) -> ValidateOutput:
    result = _validate(job, settings)
    missing = result.rejection and result.rejection.code is RejectionCode.SOURCE_NOT_FOUND
    if missing and job.original_deleted_at:
        return _reject(
            RejectionCode.SOURCE_NOT_FOUND,
            f"the original was deleted at {job.original_deleted_at}, after its variants were "
            "published (OriginalRetention=delete)",
        )
    if result.rejection and result.rejection.code is not RejectionCode.SOURCE_NOT_FOUND:
        # The bucket's lifecycle expires rejected originals after a grace period.
        storage.tag(job.source, {"imgpipe-status": "rejected"})
    return result


def _validate(job: Job, settings: Settings) -> ValidateOutput:
    limits = settings.limits
    # GetObject's Content-Length refuses an oversized upload before a byte of it is read, so
    # no HeadObject first: one S3 request fewer per upload.
    try:
        with storage.downloaded(job.source, limits.max_bytes) as path:
            size = path.stat().st_size
            if size == 0:
                return _reject(RejectionCode.EMPTY_FILE, "the upload is empty")
            info = inspect_image(path, limits, size=size, include_gps=settings.exif_gps)
    except storage.ObjectTooLarge as too_large:
        return _reject(
            RejectionCode.FILE_TOO_LARGE,
            f"the upload is {too_large.size} bytes; the limit is {limits.max_bytes}",
        )
    except ImageRejected as rejected:
        return _reject(rejected.code, rejected.message)
    except storage.ObjectMissing:
        return _reject(RejectionCode.SOURCE_NOT_FOUND, "the uploaded object no longer exists")
    return ValidateOutput(
        valid=True,
        image=info,
        variants=settings.catalogue.names,
        concurrency=settings.resize_concurrency,
    )
