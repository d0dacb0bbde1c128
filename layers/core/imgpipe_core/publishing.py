"""Publish Variants: the manifest is the commit point of the variants Resize wrote in place.

Resize writes every variant at its final content-addressed key in the public bucket; nothing
names it until the manifest does (then the record). Writing the manifest is therefore the one
step that makes an attempt visible, all or nothing; then the record says SUCCEEDED (written here,
not by a state of its own: five execution log events fewer). What a failed attempt wrote and no
manifest names is withdrawn by ``withdraw`` (the state *Withdraw Unpublished Variants*).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from imgpipe_core import keys, records, responsive, storage
from imgpipe_core.config import Settings
from imgpipe_core.errors import PublishError
from imgpipe_core.models import (
    PublishedVariant,
    PublishInput,
    PublishOutput,
    WithdrawOutput,
    dump,
)

# The manifest is the one mutable object: short TTL so re-runs show up quickly.
MANIFEST_CACHE = "public, max-age=60"


def publish(task: PublishInput, settings: Settings) -> PublishOutput:
    job = task.job
    if not task.variants:
        raise PublishError("nothing to publish: no variants were rendered")
    published = task.variants
    manifest_key = _put_manifest(settings, task, published)
    if job.attempt > 1:
        # Only an earlier attempt can have left variants the new manifest no longer names
        # (a LIST is a tier-1 request: first attempts skip it).
        _remove_unnamed(settings, job.processing_id, named={p.key for p in published})
    records.succeed(settings.table_name, job, published, task.image)
    return PublishOutput(variants=published, manifestKey=manifest_key)


def withdraw(pid: str, settings: Settings, only: Collection[str] | None = None) -> WithdrawOutput:
    """Delete what is under ``images/<pid>/`` (or the ``only`` keys of it) and the current
    manifest does not name: the leftovers of an attempt that failed before or at its manifest."""
    return WithdrawOutput(withdrawn=len(_remove_unnamed(settings, pid, only=only)))


def _remove_unnamed(
    settings: Settings,
    pid: str,
    *,
    named: set[str] | None = None,
    only: Collection[str] | None = None,
) -> list[str]:
    manifest_key = keys.manifest_key(pid)
    # Listed first: with s3:ListBucket bound to images/*, a GET of a missing manifest is 403.
    present = storage.list_keys(settings.public_bucket, keys.image_prefix(pid))
    if named is None:
        named = _named(settings, manifest_key) if manifest_key in present else set()
    doomed = [
        key
        for key in present
        if key != manifest_key and key not in named and (only is None or key in only)
    ]
    storage.delete_keys(settings.public_bucket, doomed)
    return doomed


def _named(settings: Settings, manifest_key: str) -> set[str]:
    manifest = storage.get_json(settings.public_bucket, manifest_key) or {}
    return {variant["key"] for variant in manifest.get("variants", [])}


def _put_manifest(settings: Settings, task: PublishInput, variants: list[PublishedVariant]) -> str:
    """The commit point: from this write on, the variants it names are published."""
    manifest_key = keys.manifest_key(task.job.processing_id)
    private = settings.delivery == "private"
    named = [
        # A manifest is cached and passed around: in private mode it names keys, never a URL
        # that would outlive its signature (the API and `imgpipe status` hand out signed URLs).
        dump(v) if private else {**dump(v), "url": keys.public_url(settings.public_base_url, v.key)}
        for v in variants
    ]
    manifest = _manifest(task, named, private=private)
    storage.put_json(
        settings.public_bucket, manifest_key, manifest, indent=2, cache_control=MANIFEST_CACHE
    )
    return manifest_key


def merge(
    task: PublishInput, existing: list[PublishedVariant], settings: Settings
) -> PublishOutput:
    """Publish ``task.variants`` next to the ``existing`` ones (a variant backfill).

    Variants of other names keep their keys and bytes; one of the same name is replaced, and
    its old object withdrawn only after the new manifest no longer names it.
    """
    if not task.variants:
        raise PublishError("nothing to publish: no variants were rendered")
    fresh = task.variants
    names = {variant.variant for variant in fresh}
    merged = [variant for variant in existing if variant.variant not in names] + fresh
    manifest_key = _put_manifest(settings, task, merged)
    current = {variant.key for variant in merged}
    replaced = [v.key for v in existing if v.variant in names and v.key not in current]
    storage.delete_keys(settings.public_bucket, replaced)
    return PublishOutput(variants=merged, manifestKey=manifest_key)


def _manifest(
    task: PublishInput, variants: list[dict[str, Any]], *, private: bool
) -> dict[str, Any]:
    job, image = task.job, task.image
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
