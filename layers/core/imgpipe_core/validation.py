"""Validate Upload: size from the event/HeadObject first, then bytes, header, full decode."""

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
    try:
        size = int(storage.head(job.source)["ContentLength"])
    except storage.ObjectMissing:
        return _reject(RejectionCode.SOURCE_NOT_FOUND, "the uploaded object no longer exists")
    # Refuse before downloading a byte: the size is known from HeadObject.
    if size == 0:
        return _reject(RejectionCode.EMPTY_FILE, "the upload is empty")
    if size > limits.max_bytes:
        return _reject(
            RejectionCode.FILE_TOO_LARGE,
            f"the upload is {size} bytes; the limit is {limits.max_bytes}",
        )
    try:
        with storage.downloaded(job.source, limits.max_bytes) as path:
            info = inspect_image(path, limits, size=size, include_gps=settings.exif_gps)
    except ImageRejected as rejected:
        return _reject(rejected.code, rejected.message)
    # No ObjectTooLarge here: the event names a version of a versioned bucket, and a version's
    # bytes never change, so the HeadObject size above is the size downloaded.
    except storage.ObjectMissing:
        return _reject(RejectionCode.SOURCE_NOT_FOUND, "the uploaded object no longer exists")
    return ValidateOutput(
        valid=True,
        image=info,
        variants=settings.catalogue.names,
        concurrency=settings.resize_concurrency,
    )
