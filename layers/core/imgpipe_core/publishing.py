"""Publish Variants: all-or-nothing copy from staging to the public bucket, then a manifest."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from imgpipe_core import keys, records, responsive, storage
from imgpipe_core.clients import client
from imgpipe_core.config import Settings
from imgpipe_core.errors import PublishError, StagedVariantMissing
from imgpipe_core.models import (
    PublishedVariant,
    PublishInput,
    PublishOutput,
    VariantResult,
    dump,
)

# Content-addressed keys never change content, so caches may keep them forever.
IMMUTABLE = "public, max-age=31536000, immutable"
# The manifest is the one mutable object: short TTL so re-runs show up quickly.
MANIFEST_CACHE = "public, max-age=60"


def public_url(settings: Settings, key: str) -> str:
    return f"{settings.public_base_url.rstrip('/')}/{key}"


def publish(task: PublishInput, settings: Settings) -> PublishOutput:
    job = task.job
    if not task.variants:
        raise PublishError("nothing to publish: no variants were rendered")
    s3 = client("s3")
    published: list[PublishedVariant] = []
    created: list[str] = []
    try:
        for variant in task.variants:
            published.append(_copy(s3, settings, job.processing_id, variant))
            created.append(published[-1].key)
        manifest_key = keys.manifest_key(job.processing_id)
        manifest = _manifest(
            task, [dump(p) for p in published], private=settings.delivery == "private"
        )
        s3.put_object(
            Bucket=settings.public_bucket,
            Key=manifest_key,
            Body=json.dumps(manifest, indent=2).encode(),
            ContentType="application/json",
            CacheControl=MANIFEST_CACHE,
        )
    except Exception:
        # All or nothing: withdraw what this attempt copied; the record never points at it.
        storage.delete_keys(settings.public_bucket, created)
        raise
    _cleanup(settings, task, keep=set(created) | {manifest_key})
    return PublishOutput(
        variants=published,
        manifestKey=manifest_key,
        manifestUrl=public_url(settings, manifest_key),
    )


def _copy(s3: Any, settings: Settings, pid: str, variant: VariantResult) -> PublishedVariant:
    """One staged variant → its content-addressed public key."""
    key = keys.public_key(pid, variant.variant, variant.checksum, variant.extension)
    try:
        s3.copy_object(
            Bucket=settings.public_bucket,
            Key=key,
            CopySource={"Bucket": settings.private_bucket, "Key": variant.staging_key},
            MetadataDirective="REPLACE",
            ContentType=variant.content_type,
            CacheControl=IMMUTABLE,
            Metadata={"processing-id": pid, "sha256": variant.checksum},
        )
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("NoSuchKey", "404"):
            raise
        # A retry of an invocation that published and cleaned staging, then died
        # before replying: the content-addressed copy is already there.
        published_meta = storage.metadata(settings.public_bucket, key) or {}
        if published_meta.get("sha256") != variant.checksum:
            raise StagedVariantMissing(variant.staging_key) from error
    return PublishedVariant(
        variant=variant.variant,
        key=key,
        url=public_url(settings, key),
        width=variant.width,
        height=variant.height,
        bytes=variant.bytes,
        format=variant.format,
        contentType=variant.content_type,
    )


def merge(
    task: PublishInput, existing: list[PublishedVariant], settings: Settings
) -> PublishOutput:
    """Publish ``task.variants`` next to the ``existing`` ones (a variant backfill).

    Variants of other names keep their keys and bytes; one of the same name is replaced, and
    its old object withdrawn only after the new manifest no longer names it.
    """
    job = task.job
    if not task.variants:
        raise PublishError("nothing to publish: no variants were rendered")
    s3 = client("s3")
    private = settings.delivery == "private"
    fresh = [_copy(s3, settings, job.processing_id, variant) for variant in task.variants]
    names = {variant.variant for variant in fresh}
    kept = [variant for variant in existing if variant.variant not in names]
    merged = kept + fresh
    manifest_key = keys.manifest_key(job.processing_id)
    s3.put_object(
        Bucket=settings.public_bucket,
        Key=manifest_key,
        Body=json.dumps(
            _manifest(task, [dump(p) for p in merged], private=private), indent=2
        ).encode(),
        ContentType="application/json",
        CacheControl=MANIFEST_CACHE,
    )
    current = {variant.key for variant in merged}
    replaced = [v.key for v in existing if v.variant in names and v.key not in current]
    storage.delete_keys(settings.public_bucket, replaced)
    storage.delete_keys(settings.private_bucket, [v.staging_key for v in task.variants])
    return PublishOutput(
        variants=merged, manifestKey=manifest_key, manifestUrl=public_url(settings, manifest_key)
    )


def _manifest(
    task: PublishInput, variants: list[dict[str, Any]], *, private: bool
) -> dict[str, Any]:
    job, image = task.job, task.image
    if private:
        # A manifest is cached and passed around: it names keys, never a URL that would
        # outlive its signature. The API and `imgpipe status` hand out signed URLs.
        variants = [{k: v for k, v in variant.items() if k != "url"} for variant in variants]
    manifest: dict[str, Any] = {
        "processingId": job.processing_id,
        "attempt": job.attempt,
        "publishedAt": records.iso(records.now()),
        "variants": variants,
    }
    if image is not None:
        manifest["image"] = dump(image)
        found = None if private else responsive.build(variants, (image.width, image.height))
        if found is not None:
            manifest["responsive"] = dump(found)
    return manifest


def _cleanup(settings: Settings, task: PublishInput, keep: set[str]) -> None:
    # This attempt's staged variants by key, no LIST ($5 per million uploads each): what
    # earlier attempts left in staging expires by the bucket's staging lifecycle rule.
    storage.delete_keys(settings.private_bucket, [v.staging_key for v in task.variants])
    if task.job.attempt == 1:
        return  # only an earlier attempt can have published variants the record dropped
    pid = task.job.processing_id
    stale = [
        k for k in storage.list_keys(settings.public_bucket, f"images/{pid}/") if k not in keep
    ]
    storage.delete_keys(settings.public_bucket, stale)
