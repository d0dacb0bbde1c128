"""Resize Variant: render one catalogue variant of the validated source, straight to its place.

The variant is written at its final content-addressed key in the public bucket, unreferenced
until Publish's manifest and the record name it (publishing.withdraw removes it if they never
do): no staging copy, no CopyObject. The same bytes give the same key, so a retried or
re-delivered invocation rewrites the same object.
"""

from __future__ import annotations

import hashlib

from imgpipe_core import keys, storage
from imgpipe_core.catalogue import Variant
from imgpipe_core.config import Settings
from imgpipe_core.errors import ImageRejected, RenderError
from imgpipe_core.imaging import render_variant
from imgpipe_core.imaging.watermark import MAX_WATERMARK_BYTES
from imgpipe_core.models import PublishedVariant, ResizeInput, Source


def resize(task: ResizeInput, settings: Settings) -> PublishedVariant:
    variant = settings.catalogue.get(task.variant)
    job = task.job
    mark_png = _watermark_png(variant, settings)
    try:
        with storage.downloaded(job.source, settings.limits.max_bytes) as path:
            rendition = render_variant(
                path,
                variant,
                media_type=task.media_type,
                limits=settings.limits,
                watermark_image=mark_png,
            )
    except storage.ObjectMissing as missing:
        raise RenderError(f"source vanished after validation: {missing}") from missing
    except ImageRejected as rejected:
        # Validation accepted this version; a different verdict now means it changed under us.
        raise RenderError(f"source no longer valid: {rejected}") from rejected
    checksum = hashlib.sha256(rendition.data).hexdigest()
    key = keys.public_key(job.processing_id, variant.name, checksum, rendition.extension)
    storage.put_variant(
        settings.public_bucket,
        key,
        rendition.data,
        rendition.content_type,
        {"processing-id": job.processing_id, "sha256": checksum},
    )
    return PublishedVariant(
        variant=variant.name,
        key=key,
        width=rendition.width,
        height=rendition.height,
        bytes=len(rendition.data),
        format=rendition.format.value,
        contentType=rendition.content_type,
    )


def _watermark_png(variant: Variant, settings: Settings) -> bytes | None:
    """The PNG of a watermark kept in the private bucket (bundled ones are read by imaging)."""
    mark = variant.watermark
    if mark is None or mark.image is None or not mark.is_bucket_key:
        return None
    location = Source(bucket=settings.private_bucket, key=mark.image)
    try:
        with storage.downloaded(location, MAX_WATERMARK_BYTES) as path:
            return path.read_bytes()
    except (storage.ObjectMissing, storage.ObjectTooLarge) as exc:
        raise RenderError(f"watermark image s3://{location.bucket}/{location.key}: {exc}") from exc
